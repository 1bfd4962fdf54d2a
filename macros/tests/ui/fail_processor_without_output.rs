use kflow::prelude::*;

// A pipeline with outputs and no output topic: its records would go nowhere.
fn plain(f: Flow<i32>) -> Flow<i32> {
    f
}

#[kflow::processor(input = "in")]
fn annotated(f: Flow<i32>) -> Flow<i32> {
    f
}

fn main() {
    let _ = App::new("t").processor(Processor::new("plain", plain).input(["in"]));
    let _ = App::new("t").processor(annotated);
}
