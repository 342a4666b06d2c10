//! The language model beside the interview: after the opening answer, the model reads the
//! patient's story in the background (on the `llm` thread) while the interview goes on; its
//! grounded reading fills the descriptive slots not yet asked ([`crate::session::Session::on_story`]).
//! The patient never waits for it: a reading that arrives after a slot was asked changes nothing,
//! one that fails is dropped, and a wiped session cancels it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender, bounded};
use llm::worker::{LlmEvent, LlmWorker, Request};
use protocol::{Lang, Slot};

use crate::config::Config;

/// Grounded slot values read from a story: slot, the patient's words, a number if any.
pub type StorySlots = Vec<(Slot, String, Option<f64>)>;

/// Events queued from the model at most (text pieces beyond this are dropped; the result is not).
const EVENTS: usize = 256;

struct Pending {
    generation: u64,
    story: String,
    lang: Lang,
    cancel: Arc<AtomicBool>,
}

/// The model worker and the request in flight.
pub struct Assist {
    worker: LlmWorker,
    events_tx: Sender<LlmEvent>,
    events_rx: Receiver<LlmEvent>,
    pending: Option<Pending>,
}

impl std::fmt::Debug for Assist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assist").field("pending", &self.pending.as_ref().map(|p| p.generation)).finish()
    }
}

impl Assist {
    /// Loads the installed model if the configuration wants it; `None` (with a log line saying
    /// why) otherwise: the kiosk then runs on rules and embeddings alone.
    pub fn load(config: &Config) -> Option<Self> {
        if !config.language_model {
            return None;
        }
        let files = llm::ModelFiles::installed(&config.models_dir);
        let model = match llm::Llm::load(&files) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "language model unavailable: stories are read by the rules and embeddings alone");
                return None;
            }
        };
        match Self::start(model, config.language_model_threads) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::error!(error = %e, "language model thread did not start");
                None
            }
        }
    }

    /// Starts the worker on `model` and has it read the fixed instructions at once.
    pub fn start(model: llm::Llm, threads: usize) -> std::io::Result<Self> {
        let worker = LlmWorker::spawn(model, threads)?;
        worker.warm(llm::extract::warm_prompt());
        let (events_tx, events_rx) = bounded(EVENTS);
        Ok(Self { worker, events_tx, events_rx, pending: None })
    }

    /// Where the model's events arrive (the orchestrator selects on it).
    pub fn events(&self) -> &Receiver<LlmEvent> {
        &self.events_rx
    }

    /// Starts reading `story` for session `generation`, cancelling anything older.
    pub fn read_story(&mut self, generation: u64, story: &str, lang: Lang) {
        if let Some(old) = self.pending.take() {
            old.cancel.store(true, Ordering::Relaxed);
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let request = Request {
            session: generation,
            prompt: llm::extract::prompt(story),
            config: llm::extract::config(),
            events: self.events_tx.clone(),
            cancel: Arc::clone(&cancel),
        };
        if self.worker.generate(request) {
            self.pending = Some(Pending { generation, story: story.to_owned(), lang, cancel });
        }
    }

    /// Stops work for session `generation` and forgets its conversation.
    pub fn end(&mut self, generation: u64) {
        if self.pending.as_ref().is_some_and(|p| p.generation == generation)
            && let Some(p) = self.pending.take()
        {
            p.cancel.store(true, Ordering::Relaxed);
        }
        self.worker.end_session(generation);
    }

    /// Turns a model event into the reading of a session's story, when it is the final answer.
    pub fn finish(&mut self, event: LlmEvent) -> Option<(u64, StorySlots)> {
        match event {
            LlmEvent::Text(_) => None,
            LlmEvent::Failed(e) => {
                tracing::warn!(error = %e, "the model could not read the story; the rules' reading stands");
                self.pending = None;
                None
            }
            LlmEvent::Done(generation) => {
                let pending = self.pending.take()?;
                match llm::extract::parse(&generation.text, &pending.story, pending.lang) {
                    Ok(story) => {
                        tracing::info!(
                            slots = story.slots.len(),
                            dropped = story.dropped.len(),
                            ms = generation.first_token_ms + generation.generation_ms,
                            "story read"
                        );
                        Some((pending.generation, story.slots))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the model's reading was not the form; the rules' reading stands");
                        None
                    }
                }
            }
        }
    }
}
