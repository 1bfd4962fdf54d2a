#[kflow::listener(topics = [], concurrency = "three", start = sometimes, group_id = 5, value_format = yaml)]
async fn handle(_v: u32) {}

fn main() {}
