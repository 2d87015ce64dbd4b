#[erpc::service]
struct Greeter;

fn main() {}
