//! The language model beside the interview: after the opening answer, the model reads the
//! patient's story in the background (on the `llm` thread) while the interview goes on; its
//! grounded reading fills the descriptive slots not yet asked ([`crate::session::Session::on_story`]).
//! The patient never waits for it: a reading that arrives after a slot was asked changes nothing,
//! one that fails is dropped, and a wiped session cancels it.
//!
//! At the read-back the model drafts the 现病史 / HPI from the card's facts; the text streams onto
//! the screen, and the finished draft goes on the card only if it passes the check against the
//! card ([`crate::session::Session::on_narrative`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, bounded};
use llm::worker::{LlmEvent, LlmWorker, Request};
use protocol::{Lang, Slot};

use crate::config::Config;

/// Grounded slot values read from a story: slot, the patient's words, a number if any.
pub type StorySlots = Vec<(Slot, String, Option<f64>)>;

/// Events queued from the model at most (text pieces beyond this are dropped; the result is not).
const EVENTS: usize = 256;

/// What the request in flight is for.
enum Work {
    /// Reading the opening story (the story is kept to ground the answer in it).
    Story(String),
    /// Drafting the 现病史 / HPI.
    Narrative,
}

struct Pending {
    generation: u64,
    lang: Lang,
    cancel: Arc<AtomicBool>,
    work: Work,
    /// This request's own events: a cancelled request's late text never reaches the next one.
    events: Receiver<LlmEvent>,
}

/// What the model's work means for the session.
#[derive(Clone, Debug, PartialEq)]
pub enum Assisted {
    /// The story's grounded reading.
    Story(u64, StorySlots),
    /// More of the narrative being drafted.
    NarrativeText(u64, String),
    /// The drafted narrative (not yet checked), or `None` when the model failed.
    Narrative(u64, Option<String>),
}

/// The model worker and the request in flight.
pub struct Assist {
    worker: LlmWorker,
    pending: Option<Pending>,
}

impl std::fmt::Debug for Assist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assist").field("pending", &self.pending.as_ref().map(|p| p.generation)).finish()
    }
}

impl Assist {
    /// Starts the model worker if the configuration wants the model and it is installed;
    /// `None` (with a log line saying why) otherwise: the kiosk then runs on rules and embeddings
    /// alone. The weights are loaded on the worker's own thread, so start-up does not wait.
    pub fn load(config: &Config) -> Option<Self> {
        if !config.language_model {
            return None;
        }
        let files = llm::ModelFiles::installed(&config.models_dir);
        if let Some(missing) = [&files.gguf, &files.tokenizer].into_iter().find(|p| !p.is_file()) {
            tracing::warn!(
                file = %missing.display(),
                "language model not installed (`kiosk models install qwen2.5-0.5b`): stories are read by the rules and embeddings alone"
            );
            return None;
        }
        let worker =
            match LlmWorker::spawn_loading(move || llm::Llm::load(&files), config.language_model_threads) {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(error = %e, "language model thread did not start");
                    return None;
                }
            };
        Some(Self::warmed(worker, &config.languages))
    }

    /// Starts the worker on `model` and has it read the fixed instructions at once (story
    /// reading, and narrative drafting in each of `languages`).
    pub fn start(model: llm::Llm, threads: usize, languages: &[Lang]) -> std::io::Result<Self> {
        Ok(Self::warmed(LlmWorker::spawn(model, threads)?, languages))
    }

    fn warmed(worker: LlmWorker, languages: &[Lang]) -> Self {
        worker.warm(llm::extract::warm_prompt());
        for &lang in languages {
            worker.warm(llm::narrative::warm_prompt(lang));
        }
        Self { worker, pending: None }
    }

    /// Waits until the model is loaded and has read its fixed instructions (benches and tests
    /// that measure a kiosk that has been on for a while); `false` after `timeout`.
    pub fn wait_ready(&self, timeout: std::time::Duration) -> bool {
        self.worker.wait_idle(timeout)
    }

    /// Where the model's events for the request in flight arrive (the orchestrator selects on
    /// it); a channel that never delivers when nothing is in flight.
    pub fn events(&self) -> Receiver<LlmEvent> {
        self.pending.as_ref().map_or_else(crossbeam_channel::never, |p| p.events.clone())
    }

    fn request(
        &mut self,
        generation: u64,
        lang: Lang,
        prompt: String,
        config: llm::GenConfig,
        work: Work,
    ) -> bool {
        if let Some(old) = self.pending.take() {
            old.cancel.store(true, Ordering::Relaxed);
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let (events_tx, events) = bounded(EVENTS);
        let request =
            Request { session: generation, prompt, config, events: events_tx, cancel: Arc::clone(&cancel) };
        let sent = self.worker.generate(request);
        if sent {
            self.pending = Some(Pending { generation, lang, cancel, work, events });
        }
        sent
    }

    /// Starts reading `story` for session `generation`, cancelling anything older.
    pub fn read_story(&mut self, generation: u64, story: &str, lang: Lang) {
        self.request(
            generation,
            lang,
            llm::extract::prompt(story),
            llm::extract::config(),
            Work::Story(story.to_owned()),
        );
    }

    /// Starts drafting the 现病史 from the card's `facts` for session `generation`, cancelling
    /// anything older; `false` when the model cannot take it.
    pub fn draft_narrative(&mut self, generation: u64, facts: &[String], lang: Lang) -> bool {
        self.request(
            generation,
            lang,
            llm::narrative::prompt(lang, facts),
            llm::narrative::config(),
            Work::Narrative,
        )
    }

    /// Stops the request in flight for session `generation`, if any.
    pub fn stop(&mut self, generation: u64) {
        if self.pending.as_ref().is_some_and(|p| p.generation == generation)
            && let Some(p) = self.pending.take()
        {
            p.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Stops work for session `generation` and forgets its conversation.
    pub fn end(&mut self, generation: u64) {
        self.stop(generation);
        self.worker.end_session(generation);
    }

    /// The request in flight ended without an answer (its channel closed): a narrative being
    /// drafted ends as failed, a story reading is dropped.
    pub fn lost(&mut self) -> Option<Assisted> {
        let pending = self.pending.take()?;
        tracing::error!("the language model dropped a request without an answer");
        matches!(pending.work, Work::Narrative).then_some(Assisted::Narrative(pending.generation, None))
    }

    /// What a model event means for the session.
    pub fn finish(&mut self, event: LlmEvent) -> Option<Assisted> {
        let pending = self.pending.as_ref()?;
        let generation = pending.generation;
        match (event, &pending.work) {
            (LlmEvent::Text(_), Work::Story(_)) => None,
            (LlmEvent::Text(text), Work::Narrative) => Some(Assisted::NarrativeText(generation, text)),
            (LlmEvent::Failed(e), work) => {
                let narrative = matches!(work, Work::Narrative);
                self.pending = None;
                if narrative {
                    tracing::warn!(error = %e, "the model could not draft the narrative; the deterministic text stands");
                    Some(Assisted::Narrative(generation, None))
                } else {
                    tracing::warn!(error = %e, "the model could not read the story; the rules' reading stands");
                    None
                }
            }
            (LlmEvent::Done(done), _) => {
                let pending = self.pending.take()?;
                let ms = done.first_token_ms + done.generation_ms;
                match pending.work {
                    Work::Narrative => {
                        if done.stop == llm::Stop::Cancelled {
                            return Some(Assisted::Narrative(generation, None));
                        }
                        tracing::info!(tokens = done.generated_tokens, ms, "narrative drafted");
                        Some(Assisted::Narrative(generation, Some(llm::narrative::clean(&done.text))))
                    }
                    Work::Story(story) => match llm::extract::parse(&done.text, &story, pending.lang) {
                        Ok(reading) => {
                            tracing::info!(
                                slots = reading.slots.len(),
                                dropped = reading.dropped.len(),
                                ms,
                                "story read"
                            );
                            Some(Assisted::Story(generation, reading.slots))
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the model's reading was not the form; the rules' reading stands");
                            None
                        }
                    },
                }
            }
        }
    }
}
