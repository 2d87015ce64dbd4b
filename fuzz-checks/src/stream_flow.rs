//! A stream's flow control — the receiver's inbox and the sender's credit — driven by an
//! arbitrary sequence of frames and consumer actions, against a model.
//!
//! Invariants: a sender that takes credit before each frame never violates the window; a
//! frame beyond the peer's credit is a violation and changes nothing; frames come out in the
//! order they went in, then the end (a failure once); nothing is accepted after the end;
//! the bytes buffered never pass the window; credit is conserved (what the peer may still
//! send + what is buffered + what was consumed but not yet granted back = the window, and
//! the ungranted part stays under a quarter of the window; once the consumer is gone,
//! everything is granted back); no grant pushes the sender past the maximum window.

use std::collections::VecDeque;

use arbitrary::Arbitrary;
use bytes::Bytes;
use erpc_core::__fuzz::{PushOutcome, SendCredit, StreamInbox, Taken, cost};
use erpc_core::protocol::{Frame, Header, Kind};
use erpc_core::{Code, Status};

const ID: u64 = 3;
static ZEROS: [u8; 1 << 18] = [0; 1 << 18];

#[derive(Arbitrary, Debug)]
enum Op {
    /// The sender takes credit, then sends (if it got it).
    Send { len: u16, more: bool },
    /// A large message chunk, sent the same way.
    SendLarge { kib: u8 },
    /// A peer that ignores its credit.
    Rogue { len: u32 },
    /// A STREAM_GAP; `body` other than 8 is malformed.
    Gap { count: u64, body: u8 },
    /// STREAM_END with this status.
    End { status: u8 },
    /// The consumer polls.
    Take,
    /// The stream fails locally.
    Fail,
    /// The consumer goes away.
    Detach,
    /// The sender's side is closed.
    CloseSender,
}

/// The fuzzer's input, built by `arbitrary` from its bytes (as libFuzzer hands them).
#[derive(Arbitrary, Debug)]
pub struct Input {
    window: u32,
    ops: Vec<Op>,
}

#[derive(Debug, PartialEq)]
enum Want {
    Chunk { more: bool, len: usize },
    Gap(u64),
}

struct Model {
    window: u64,
    /// What the peer may still send.
    credit: u64,
    queue: VecDeque<(Want, u64)>,
    /// Set by STREAM_END or a local failure: the end the consumer gets after the queue.
    end: Option<Result<(), Code>>,
    reported: bool,
    detached: bool,
    /// A rogue frame was accepted: the sender's credit no longer matches the inbox's.
    rogue: bool,
}

fn data(len: usize, more: bool) -> Frame {
    let mut f = Frame::new(Kind::STREAM_DATA, ID);
    f.body = Bytes::from_static(&ZEROS[..len.min(ZEROS.len())]);
    f.header.body_len = f.body.len() as u32;
    if more {
        f.header.flags |= Header::MORE;
    }
    f
}

impl Model {
    fn push(&mut self, inbox: &StreamInbox, frame: Frame, want: Option<Want>) -> PushOutcome {
        let got = inbox.push(frame);
        if self.end.is_some() {
            assert_eq!(got, PushOutcome::Late);
            return got;
        }
        let Some(want) = want else {
            assert!(matches!(got, PushOutcome::Violation(_)), "{got:?}");
            return got;
        };
        let len = match &want {
            Want::Chunk { len, .. } => *len,
            Want::Gap(_) => 8,
        };
        let c = u64::from(cost(len));
        if c > self.credit {
            assert!(matches!(got, PushOutcome::Violation(_)), "{got:?}");
            return got;
        }
        assert_eq!(got, PushOutcome::Taken);
        self.credit -= c;
        if !self.detached {
            self.queue.push_back((want, c));
        }
        got
    }

    fn take(&mut self, inbox: &StreamInbox) {
        let got = inbox.take();
        if let Some((want, _)) = self.queue.pop_front() {
            match (&want, &got) {
                (Want::Chunk { more, len }, Taken::Chunk { more: m, body }) => {
                    assert_eq!((*more, *len), (*m, body.len()));
                }
                (Want::Gap(n), Taken::Gap(g)) => assert_eq!(n, g),
                _ => panic!("wanted {want:?}, took {got:?}"),
            }
            return;
        }
        match (&self.end, self.reported) {
            (None, _) => assert_eq!(got, Taken::Pending),
            (Some(Err(code)), false) => {
                assert!(
                    matches!(&got, Taken::Failed(s) if s.code() == *code),
                    "{got:?}"
                );
                self.reported = true;
            }
            (Some(_), _) => {
                assert_eq!(got, Taken::Ended);
                self.reported = true;
            }
        }
    }
}

/// Drive the code under test with `input` and assert the invariants above; panics on a
/// violation.
pub fn check(input: Input) {
    let floor = StreamInbox::initial_window();
    let window = input.window.clamp(floor, 16 << 20);
    let mut inbox = StreamInbox::new(ID, window);
    let sender = SendCredit::new(floor);
    let mut model = Model {
        window: u64::from(window),
        credit: u64::from(floor),
        queue: VecDeque::new(),
        end: None,
        reported: false,
        detached: false,
        rogue: false,
    };
    if let Some(extra) = inbox.initial_grant() {
        assert_eq!(u64::from(floor) + u64::from(extra), model.window);
        model.credit += u64::from(extra);
        assert!(sender.grant(extra));
    } else {
        assert_eq!(window, floor);
    }
    for op in input.ops {
        match op {
            Op::Send { len, more } => send(&mut model, &inbox, &sender, len.into(), more),
            Op::SendLarge { kib } => {
                send(&mut model, &inbox, &sender, usize::from(kib) << 10, true)
            }
            Op::Rogue { len } => {
                let len = (len as usize) % (ZEROS.len() + 1);
                let want = Some(Want::Chunk { more: false, len });
                if model.push(&inbox, data(len, false), want) == PushOutcome::Taken {
                    model.rogue = true;
                }
            }
            Op::Gap { count, body } => {
                let mut f = Frame::new(Kind::STREAM_GAP, ID);
                let mut b = count.to_be_bytes().to_vec();
                b.resize(usize::from(body % 12), 0);
                let ok = b.len() == 8;
                f.header.body_len = b.len() as u32;
                f.body = b.into();
                // A well-formed gap costs credit like data: the sender takes it first.
                if !ok || sender.try_take(cost(8)) {
                    let got = model.push(&inbox, f, ok.then_some(Want::Gap(count)));
                    assert!(!ok || model.rogue || !matches!(got, PushOutcome::Violation(_)));
                }
            }
            Op::End { status } => {
                let mut f = Frame::new(Kind::STREAM_END, ID);
                f.header.status = status;
                let was_open = model.end.is_none();
                let got = inbox.push(f);
                if was_open {
                    assert_eq!(got, PushOutcome::Taken);
                    model.end = Some(if status == 0 {
                        Ok(())
                    } else {
                        Err(Code::from_u8(status))
                    });
                } else {
                    assert_eq!(got, PushOutcome::Late);
                }
            }
            Op::Take => model.take(&inbox),
            Op::Fail => {
                inbox.fail(Status::deadline_exceeded("fuzz"));
                if model.end.is_none() {
                    model.queue.clear();
                    model.end = Some(Err(Code::DeadlineExceeded));
                }
            }
            Op::Detach => {
                inbox.detach();
                model.detached = true;
                model.queue.clear();
            }
            Op::CloseSender => {
                sender.close(Status::cancelled("fuzz"));
                assert!(sender.is_closed());
                assert!(!sender.try_take(0));
            }
        }
        let grants = inbox.grants();
        assert!(
            model.end.is_none() || grants.is_empty(),
            "granted after the end"
        );
        for g in grants {
            model.credit += u64::from(g);
            let ok = sender.grant(g);
            assert!(
                ok || model.rogue,
                "a grant took the sender past the maximum window"
            );
        }
        let queued: u64 = model.queue.iter().map(|(_, c)| c).sum();
        assert!(
            queued <= model.window,
            "buffered {queued} over the window {}",
            model.window
        );
        if model.end.is_none() {
            assert!(
                model.credit + queued <= model.window,
                "credit grew past the window"
            );
            let ungranted = model.window - model.credit - queued;
            if model.detached {
                assert_eq!(ungranted, 0, "a detached inbox kept credit back");
            } else {
                assert!(
                    ungranted < model.window / 4,
                    "{ungranted} consumed, not granted back"
                );
            }
        }
    }
}

/// A well-behaved sender: it sends only what its credit allows.
fn send(model: &mut Model, inbox: &StreamInbox, sender: &SendCredit, len: usize, more: bool) {
    let len = len.min(ZEROS.len());
    if !sender.try_take(cost(len)) {
        return;
    }
    let got = model.push(inbox, data(len, more), Some(Want::Chunk { more, len }));
    assert!(
        model.rogue || !matches!(got, PushOutcome::Violation(_)),
        "a frame within the sender's credit was a violation"
    );
}
