#[erpc::service]
trait Greeter {
    async fn add(&self, (a, b): (i32, i32)) -> Result<i32, erpc::Status>;
}

fn main() {}
