#[kflow::listener(topics = [], concurrency = "three", start = sometimes, group_id = 5, value_format = yaml)]
async fn handle(_v: u32) {}

fn main() {}

#[kflow::processor(input = "a", output = "b", exactly_once = yes)]
fn copy(v: kflow::Flow<u32>) -> kflow::Flow<u32> {
    v
}
