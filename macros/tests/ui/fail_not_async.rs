#[kflow::listener(topics = ["a"])]
fn handle(_v: u32) {}

fn main() {}
