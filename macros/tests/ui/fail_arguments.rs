use kflow::prelude::*;

#[kflow::listener(topics = ["a"])]
async fn by_ref(_v: &u32) {}

#[kflow::listener(topics = ["a"])]
async fn two_values(_a: u32, _b: String) {}

#[kflow::listener(topics = ["a"])]
async fn no_value(_m: Meta) {}

fn main() {}
