//! The service of the three-process demo: each instance says who it is.

use erpc::Status;

/// Greets, naming the instance that answered.
#[erpc::service(name = "demo.Hello")]
pub trait Hello {
    /// "hello, NAME, from INSTANCE".
    async fn hello(&self, name: String) -> Result<String, Status>;
}

/// One instance (the client binary includes this file for the client half only).
#[allow(dead_code)]
pub struct Instance(pub String);

impl Hello for Instance {
    async fn hello(&self, name: String) -> Result<String, Status> {
        Ok(format!("hello, {name}, from {}", self.0))
    }
}
