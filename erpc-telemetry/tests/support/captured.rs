//! Every `tracing` event, kept for a test to look at.

use std::sync::{Arc, Mutex};

/// Every event logged: (level, target, its fields as `name=value`).
#[allow(dead_code)] // not every test binary captures events
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<(tracing::Level, String, String)>>>);

impl Captured {
    #[allow(dead_code)] // not every test binary captures events
    pub fn lines(&self, level: tracing::Level, says: &str) -> Vec<String> {
        let events = self.0.lock().expect("not poisoned");
        events
            .iter()
            .filter(|(l, _, text)| *l == level && text.contains(says))
            .map(|(_, target, text)| format!("{target}: {text}"))
            .collect()
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let meta = event.metadata();
        self.0.lock().expect("not poisoned").push((
            *meta.level(),
            meta.target().to_owned(),
            fields.0,
        ));
    }
}
