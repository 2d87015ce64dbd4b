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
    /// A registry over these centers; a malformed address is refused naming `--center`.
    pub fn registry(&self) -> Result<erpc_center::CenterRegistry, Box<dyn std::error::Error>> {
        erpc_center::CenterRegistry::new(self.addrs.iter().map(String::as_str))
            .map_err(|e| format!("--center {}: {e}", self.addrs.join(",")).into())
    }

    /// These centers as a failure names them: "the center at ADDR" (as the `erpc` command
    /// line does), or "the centers at A, B".
    pub fn describe(&self) -> String {
        let which = match self.addrs.len() {
            1 => "center",
            _ => "centers",
        };
        format!("the {which} at {}", self.addrs.join(", "))
    }
}
