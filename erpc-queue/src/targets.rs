//! The static target table: where each service is, and how a request to it is attempted —
//! each attempt within the target's timeout and the call's deadline, retried with backoff
//! when the target is unreachable or too slow.

use std::collections::HashMap;
use std::time::Duration;

use erpc_core::{Client, ClientRequest, ClientResponse, Code, Status};
use tokio::time::Instant;

use crate::config::{ConfigError, TargetConfig};

/// One service's address and attempt policy.
#[derive(Debug, Clone)]
pub struct Target {
    client: Client,
    address: String,
    timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    backoff_max: Duration,
}

/// Why a forwarded request failed.
#[derive(Debug)]
pub enum Failed {
    /// The service answered with this status (or a hook refused): an answer, not retried.
    Answered(Status),
    /// Every attempt failed `unavailable` or timed out, or the call's deadline passed between
    /// them; the last attempt's status and how many attempts were made.
    GaveUp {
        /// The last attempt's status.
        last: Status,
        /// Attempts made (the first included).
        attempts: u32,
    },
}

impl Target {
    /// The target `config` describes; its client dials on the first call.
    pub fn new(config: &TargetConfig) -> Result<Target, ConfigError> {
        let client = Client::new(config.address.as_str())
            .map_err(|e| ConfigError::Invalid(format!("target {:?}: {e}", config.service)))?;
        Ok(Target {
            client,
            address: config.address.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            max_retries: config.max_retries,
            backoff: Duration::from_millis(config.backoff_ms),
            backoff_max: Duration::from_millis(config.backoff_max_ms.max(config.backoff_ms)),
        })
    }

    /// Send `request` (its `deadline` is the call's), attempting again on `unavailable` and
    /// on an attempt's own timeout while attempts and time remain.
    pub async fn forward(&self, request: &ClientRequest) -> Result<ClientResponse, Failed> {
        let call_deadline = request.deadline;
        let mut wait = self.backoff;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt_deadline = call_deadline.min(Instant::now() + self.timeout);
            let attempt = ClientRequest {
                deadline: attempt_deadline,
                ..request.clone()
            };
            let status = match self.client.invoke(attempt).await {
                Ok(response) => return Ok(response),
                Err(status) => status,
            };
            // An attempt's own timeout is the target being slow: worth another try; the
            // call's deadline passing is the end.
            let retryable = status.code() == Code::Unavailable
                || (status.code() == Code::DeadlineExceeded && attempt_deadline < call_deadline);
            if !retryable {
                return Err(Failed::Answered(status));
            }
            let sleep = wait.mul_f64(0.5 + fastrand::f64() / 2.0);
            if attempts > self.max_retries || Instant::now() + sleep >= call_deadline {
                let last = Status::new(
                    status.code(),
                    format!("{} (target {})", status.message(), self.address),
                );
                return Err(Failed::GaveUp { last, attempts });
            }
            tokio::time::sleep(sleep).await;
            wait = (wait * 2).min(self.backoff_max);
        }
    }
}

/// Every configured target, by service name; `*` catches the rest.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    by_service: HashMap<String, Target>,
}

impl Targets {
    /// The table `configs` describe.
    pub fn new(configs: &[TargetConfig]) -> Result<Targets, ConfigError> {
        let by_service = configs
            .iter()
            .map(|c| Ok((c.service.clone(), Target::new(c)?)))
            .collect::<Result<_, ConfigError>>()?;
        Ok(Targets { by_service })
    }

    /// The target of `service`, or of `*`.
    pub fn get(&self, service: &str) -> Option<&Target> {
        self.by_service
            .get(service)
            .or_else(|| self.by_service.get("*"))
    }
}
