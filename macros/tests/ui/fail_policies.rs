#[kflow::listener(topics = "a", on_error = later)]
async fn unknown(_v: u32) {}

#[kflow::listener(topics = "a", on_error = skip.then_dead_letter())]
async fn after_final(_v: u32) {}

#[kflow::listener(topics = "a", on_error = retry(backoff = fixed(1s)))]
async fn no_attempts(_v: u32) {}

#[kflow::listener(topics = "a", on_error = retry(max_attempts = 3, backoff = fixed(10)))]
async fn bad_duration(_v: u32) {}

#[kflow::listener(topics = "a", on_error = retry(max_attempts = 3, backoff = linear(1s)))]
async fn bad_backoff(_v: u32) {}

#[kflow::listener(topics = "a", on_error = retry(3).then_later())]
async fn bad_step(_v: u32) {}

#[kflow::listener(topics = "a", on_error = retry_topics([]))]
async fn no_delays(_v: u32) {}

#[kflow::listener(topics = "a", on_error = dead_letter(headers = xml))]
async fn bad_headers(_v: u32) {}

#[kflow::listener(topics = "a", on_error = retry_topics([1m], shared = 7))]
async fn bad_shared(_v: u32) {}

#[kflow::listener(topics = "a", on_error = retry_topics([1m], share = "internal.retry"))]
async fn misspelt_shared(_v: u32) {}

fn main() {}
