use kflow::prelude::*;

#[kflow::listener(topics = ["a"])]
async fn counts(_v: u32) -> u32 {
    1
}

#[kflow::processor(input = ["a"])]
fn not_a_flow(f: Flow<u32>) -> Vec<u32> {
    drop(f);
    Vec::new()
}

#[kflow::processor(input = ["a"])]
async fn asynchronous(f: Flow<u32>) -> Flow<u32> {
    f
}

#[kflow::processor(input = ["a"])]
fn no_flow(v: u32) -> Flow<u32> {
    Flow::from_iter([v])
}

fn main() {}
