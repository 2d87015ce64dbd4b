//! Positional command-line arguments for the benchmark binaries: parse or print the usage.

/// The process's arguments, with the usage line printed when one is missing or malformed.
pub struct Args {
    args: Vec<String>,
    usage: &'static str,
}

impl Args {
    /// The process's arguments; `usage` is printed (after "usage: ") on any error.
    pub fn new(usage: &'static str) -> Args {
        Args {
            args: std::env::args().collect(),
            usage,
        }
    }

    /// Argument `i` (1 is the first after the program name), parsed.
    pub fn get<T: std::str::FromStr>(&self, i: usize) -> T {
        self.args
            .get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| self.usage())
    }

    /// Print the usage and exit with status 2.
    pub fn usage(&self) -> ! {
        eprintln!("usage: {}", self.usage);
        std::process::exit(2)
    }
}
