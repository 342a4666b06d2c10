//! The synthesis worker: turns what the kiosk says into audio chunks on its own thread, the first
//! chunk (the first clause) as soon as it is made, the rest sentence by sentence while the first
//! plays. A newer request or a stop drops what is left of the current one.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded};
use protocol::Lang;

use super::{Pcm, Synthesize, speaking_chunks};

/// Commands to the synthesis worker.
#[derive(Clone, Debug)]
pub enum SpeakCommand {
    /// Say `text` (request `id`).
    Say {
        /// Request id, echoed in events.
        id: u64,
        /// What to say.
        text: String,
        /// In which language.
        lang: Lang,
        /// Slower speech for elderly mode.
        elderly: bool,
        /// Holds patient information: never cached.
        private: bool,
    },
    /// Stop speaking (barge-in, new screen).
    Stop,
    /// Synthesise these in the background when idle, to fill the cache; replaces any list still
    /// pending. An empty list stops warming (a patient has started: the cores are for recognition).
    Warm(Vec<(String, Lang, bool)>),
}

/// What the synthesis worker reports.
#[derive(Clone, Debug)]
pub enum TtsEvent {
    /// Audio for request `id`; `first` is true for its first chunk (with the time it took).
    Audio {
        /// Request id.
        id: u64,
        /// The audio.
        pcm: Pcm,
        /// First chunk of the request.
        first: bool,
        /// Milliseconds from the request to this chunk being ready.
        ready_ms: u64,
    },
    /// Request `id` is fully synthesised.
    Done {
        /// Request id.
        id: u64,
    },
    /// Synthesis failed for request `id`; the screen still shows the text.
    Failed {
        /// Request id.
        id: u64,
        /// What went wrong.
        error: String,
    },
}

/// Handle to the synthesis thread. Dropping it stops the thread.
#[derive(Debug)]
pub struct TtsWorker {
    commands: Sender<SpeakCommand>,
    events: Receiver<TtsEvent>,
    thread: Option<JoinHandle<()>>,
}

impl TtsWorker {
    /// Starts the worker. Audio chunks queue (capacity 4) until the player takes them.
    pub fn spawn(synth: Arc<dyn Synthesize>) -> std::io::Result<Self> {
        let (command_tx, command_rx) = bounded::<SpeakCommand>(16);
        let (event_tx, event_rx) = bounded::<TtsEvent>(4);
        let thread = std::thread::Builder::new()
            .name("tts".into())
            .spawn(move || run(synth.as_ref(), &command_rx, &event_tx))?;
        Ok(Self { commands: command_tx, events: event_rx, thread: Some(thread) })
    }

    /// Sends a command (false if the worker has stopped or its queue is full).
    pub fn send(&self, command: SpeakCommand) -> bool {
        self.commands.try_send(command).is_ok()
    }

    /// The event stream.
    pub fn events(&self) -> &Receiver<TtsEvent> {
        &self.events
    }
}

impl Drop for TtsWorker {
    fn drop(&mut self) {
        // Closing the command channel ends the thread.
        let (dead, _) = bounded(0);
        self.commands = dead;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The newest list replaces what is still pending (the session sends the whole list at every
/// wipe; an empty one stops warming).
fn set_warm(warm: &mut Vec<(String, Lang, bool)>, list: Vec<(String, Lang, bool)>) {
    *warm = list;
}

fn run(synth: &dyn Synthesize, commands: &Receiver<SpeakCommand>, events: &Sender<TtsEvent>) {
    let mut warm: Vec<(String, Lang, bool)> = Vec::new();
    // A command that arrived while speaking and superseded the request in progress.
    let mut pending: Option<SpeakCommand> = None;
    loop {
        let command = match pending.take() {
            Some(c) => c,
            None if warm.is_empty() => match commands.recv() {
                Ok(c) => c,
                Err(_) => return,
            },
            None => match commands.try_recv() {
                Ok(c) => c,
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    // Idle: fill the cache one utterance at a time.
                    if let Some((text, lang, elderly)) = warm.pop() {
                        for chunk in speaking_chunks(&text) {
                            let _ = synth.sentence(&chunk, lang, elderly);
                        }
                    }
                    continue;
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            },
        };
        match command {
            SpeakCommand::Warm(list) => set_warm(&mut warm, list),
            SpeakCommand::Stop => {}
            SpeakCommand::Say { id, text, lang, elderly, private } => {
                let started = Instant::now();
                let mut finished = true;
                for (i, chunk) in speaking_chunks(&text).into_iter().enumerate() {
                    // A newer request or a stop supersedes this one.
                    match commands.try_recv() {
                        Ok(SpeakCommand::Warm(list)) => set_warm(&mut warm, list),
                        Ok(other) => {
                            pending = Some(other);
                            finished = false;
                            break;
                        }
                        Err(_) => {}
                    }
                    let result = if private {
                        synth.private_sentence(&chunk, lang, elderly)
                    } else {
                        synth.sentence(&chunk, lang, elderly)
                    };
                    match result {
                        Ok(pcm) => {
                            let ready_ms = started.elapsed().as_millis() as u64;
                            if events.send(TtsEvent::Audio { id, pcm, first: i == 0, ready_ms }).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = events.send(TtsEvent::Failed { id, error: e.to_string() });
                            finished = false;
                            break;
                        }
                    }
                }
                if finished && events.send(TtsEvent::Done { id }).is_err() {
                    return;
                }
            }
        }
    }
}
