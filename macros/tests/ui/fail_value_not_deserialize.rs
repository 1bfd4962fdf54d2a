struct NotSerde;

#[kflow::listener(topics = ["a"])]
async fn handle(_v: NotSerde) {}

fn main() {}
