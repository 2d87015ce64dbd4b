//! Where the demo's server and client find the center: `--center` or `ERPC_DEMO_CENTER`.

/// The center addresses option, shared by the server and the client binaries.
#[derive(Debug, clap::Args)]
pub struct Centers {
    /// The center's address (repeat, or separate with commas, for several).
    #[arg(
        long = "center",
        value_name = "ADDR",
        env = "ERPC_DEMO_CENTER",
        value_delimiter = ',',
        default_value = "tcp://127.0.0.1:7070"
    )]
    pub addrs: Vec<String>,
}

impl Centers {
    /// A registry over these centers.
    pub fn registry(&self) -> Result<erpc_center::CenterRegistry, Box<dyn std::error::Error>> {
        Ok(erpc_center::CenterRegistry::new(
            self.addrs.iter().map(String::as_str),
        )?)
    }
}
