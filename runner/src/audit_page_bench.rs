//! Benchmark of appending evidence rows to the Confluence audit page (being written).
fn main() {}
