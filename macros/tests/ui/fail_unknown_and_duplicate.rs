use kflow::prelude::*;

#[kflow::listener(topics = ["a"], topik = "x", topics = ["b"])]
async fn handle(_v: u32) {}

#[kflow::processor(input = ["a"], outptu = "b")]
fn pipe(f: Flow<u32>) -> Flow<u32> {
    f
}

fn main() {}
