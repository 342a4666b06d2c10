//! The language model on its own thread. Requests arrive on a bounded channel; text streams back
//! on the request's own channel as it is made; a request can be cancelled at any token.
//!
//! The worker keeps a few conversations (each session's, and the warmed-up instructions). A new
//! request starts from a snapshot of whichever kept conversation shares the longest prefix with
//! it, so the fixed instructions are read once per process and a session's earlier turns once per
//! session.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::{Conversation, GenConfig, Generation, Llm};

/// Requests queued at most.
const JOBS: usize = 8;
/// Conversations kept (sessions and warm-ups); the least recently used goes first.
const KEPT: usize = 6;

/// What streams back for one request.
#[derive(Clone, Debug)]
pub enum LlmEvent {
    /// More text.
    Text(String),
    /// Finished.
    Done(Generation),
    /// Failed (or cancelled before it began).
    Failed(String),
}

/// A generation request.
#[derive(Debug)]
pub struct Request {
    /// The session it belongs to (its conversation is kept for its next request).
    pub session: u64,
    /// The whole prompt (ChatML).
    pub prompt: String,
    /// How to generate.
    pub config: GenConfig,
    /// Where text and the result go.
    pub events: Sender<LlmEvent>,
    /// Set to stop at the next token.
    pub cancel: Arc<AtomicBool>,
}

enum Job {
    Generate(Request),
    /// Read a prompt (fixed instructions) so later requests start from it.
    Warm(String),
    /// Forget a session (wiped at the kiosk).
    End(u64),
    /// Answer when everything queued before it is done.
    Ping(Sender<()>),
}

/// The worker.
#[derive(Debug)]
pub struct LlmWorker {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Generate(r) => write!(f, "Generate(session {})", r.session),
            Self::Warm(_) => write!(f, "Warm"),
            Self::End(s) => write!(f, "End({s})"),
            Self::Ping(_) => write!(f, "Ping"),
        }
    }
}

impl LlmWorker {
    /// Starts the worker thread on `llm`; its matrix products use a pool of `threads` threads of
    /// its own, so the model never takes every core from speech recognition.
    pub fn spawn(llm: Llm, threads: usize) -> std::io::Result<Self> {
        Self::spawn_loading(move || Ok(llm), threads)
    }

    /// Starts the worker thread, which loads the model itself (`load`) before taking requests,
    /// so whoever starts it does not wait for the weights. Requests queued meanwhile wait; if the
    /// load fails, the thread logs why and ends, and every queued request's channel closes
    /// without an answer (later requests are refused at once).
    pub fn spawn_loading(
        load: impl FnOnce() -> Result<Llm, crate::LlmError> + Send + 'static,
        threads: usize,
    ) -> std::io::Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("llm-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        let (tx, rx) = bounded::<Job>(JOBS);
        let thread = std::thread::Builder::new().name("llm".into()).spawn(move || {
            let started = std::time::Instant::now();
            match load() {
                Ok(llm) => {
                    tracing::info!(ms = started.elapsed().as_millis() as u64, "language model loaded");
                    pool.install(|| run(&llm, &rx));
                }
                Err(e) => tracing::error!(error = %e, "language model unavailable: requests are refused"),
            }
        })?;
        Ok(Self { jobs: Some(tx), thread: Some(thread) })
    }

    fn send(&self, job: Job) -> bool {
        match self.jobs.as_ref().map(|j| j.try_send(job)) {
            Some(Ok(())) => true,
            Some(Err(TrySendError::Full(_))) => {
                tracing::warn!("language model busy: request dropped");
                false
            }
            _ => false,
        }
    }

    /// Queues a generation; `false` when the worker is busy or gone (the caller goes on without
    /// the model).
    pub fn generate(&self, request: Request) -> bool {
        let events = request.events.clone();
        let sent = self.send(Job::Generate(request));
        if !sent {
            let _ = events.try_send(LlmEvent::Failed("the language model is busy".into()));
        }
        sent
    }

    /// Reads fixed instructions ahead of the first request.
    pub fn warm(&self, prompt: String) -> bool {
        self.send(Job::Warm(prompt))
    }

    /// Waits until the model is loaded and everything queued so far (warm-ups) is done; `false`
    /// when that takes longer than `timeout` or the model could not load.
    pub fn wait_idle(&self, timeout: std::time::Duration) -> bool {
        let (tx, rx) = bounded(1);
        self.jobs.as_ref().is_some_and(|j| j.send_timeout(Job::Ping(tx), timeout).is_ok())
            && rx.recv_timeout(timeout).is_ok()
    }

    /// Forgets a session's conversation.
    pub fn end_session(&self, session: u64) {
        let _ = self.send(Job::End(session));
    }
}

impl Drop for LlmWorker {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Kept conversations, most recently used last. Session 0 holds warm-ups (several: one per set
/// of fixed instructions).
struct Kept(Vec<(u64, Conversation)>);

impl Kept {
    /// The conversation to continue for `prompt`: whichever kept one shares the longest prefix
    /// with it (the session's own when it shares as much, taken; otherwise a snapshot), or a new one.
    fn take_for(&mut self, session: u64, llm: &Llm, prompt: &str) -> Conversation {
        let tokens = llm.tokenize(prompt).unwrap_or_default();
        let best = self
            .0
            .iter()
            .enumerate()
            .max_by_key(|(_, (s, c))| (c.shared_prefix(&tokens), *s == session && session != 0))
            .filter(|(_, (_, c))| c.shared_prefix(&tokens) > 0)
            .map(|(i, (s, _))| (i, *s));
        match best {
            Some((i, s)) if s == session && session != 0 => self.0.remove(i).1,
            Some((i, _)) => self.0[i].1.clone(),
            None => {
                // Nothing shared: the session's old conversation is of no further use.
                if session != 0 {
                    self.0.retain(|(s, _)| *s != session);
                }
                llm.conversation()
            }
        }
    }

    fn keep(&mut self, session: u64, conversation: Conversation) {
        if session != 0 {
            self.0.retain(|(s, _)| *s != session);
        }
        self.0.push((session, conversation));
        while self.0.len() > KEPT {
            // Warm-ups (session 0) stay while any room is left for sessions.
            let drop = self.0.iter().position(|(s, _)| *s != 0).unwrap_or(0);
            self.0.remove(drop);
        }
    }
}

fn run(llm: &Llm, jobs: &Receiver<Job>) {
    let mut kept = Kept(Vec::new());
    for job in jobs {
        match job {
            Job::Warm(prompt) => {
                let mut conversation = kept.take_for(0, llm, &prompt);
                match llm.prefill(&mut conversation, &prompt) {
                    Ok(n) => {
                        tracing::info!(tokens = n, "language model instructions read");
                        kept.keep(0, conversation);
                    }
                    Err(e) => tracing::error!(error = %e, "language model warm-up failed"),
                }
            }
            Job::End(session) => kept.0.retain(|(s, _)| *s != session),
            Job::Ping(done) => {
                let _ = done.send(());
            }
            Job::Generate(request) => {
                let mut conversation = kept.take_for(request.session, llm, &request.prompt);
                let events = &request.events;
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    llm.generate(
                        &mut conversation,
                        &request.prompt,
                        &request.config,
                        &request.cancel,
                        &mut |text| {
                            let _ = events.try_send(LlmEvent::Text(text.to_owned()));
                        },
                    )
                }));
                match result {
                    Ok(Ok(generation)) => {
                        let _ = events.send(LlmEvent::Done(generation));
                        kept.keep(request.session, conversation);
                    }
                    Ok(Err(e)) => {
                        let _ = events.send(LlmEvent::Failed(e.to_string()));
                    }
                    Err(_) => {
                        tracing::error!("language model panicked; the conversation is dropped");
                        let _ = events.send(LlmEvent::Failed("the language model failed".into()));
                    }
                }
            }
        }
    }
}
