#[kflow::listener(group_id = "g")]
async fn handle(_v: u32) {}

fn main() {}
