//! Sound devices through cpal (ALSA, and PulseAudio or PipeWire through ALSA's default device).
//!
//! The real-time callbacks do nothing but move samples between the device and a lock-free ring
//! (`rtrb`): no allocation, no locks, no logging. Resampling to and from 16 kHz happens on the
//! consumer's thread. A device that is missing or fails becomes a status message and a retry,
//! never a panic; meanwhile the capture source delivers silence so the pipeline keeps running.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use crossbeam_channel::{Sender, bounded};

use crate::resample::StreamResampler;
use crate::source::{AudioSource, CHUNK_SAMPLES, SourceError};
use crate::tts::Pcm;

/// Seconds of audio the capture ring holds (the consumer normally drains it every 20 ms).
const CAPTURE_RING_SECONDS: usize = 2;
/// Seconds of audio the playback ring holds.
const PLAYBACK_RING_SECONDS: usize = 4;
/// Wait between attempts to reopen a failed device.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Device trouble, reported to the session (the staff status screen shows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    /// No such device, or it could not be opened; retrying.
    Unavailable(String),
    /// Working again.
    Restored,
    /// The ring overflowed (the consumer fell behind) this many times so far.
    Overruns(u64),
}

struct Shared {
    failed: AtomicBool,
    overruns: AtomicU64,
    stop: AtomicBool,
    /// Playback only: drop everything queued (set by `Player::stop`, cleared by the callback).
    flush: AtomicBool,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            failed: AtomicBool::new(false),
            overruns: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            flush: AtomicBool::new(false),
        })
    }
}

/// Microphone capture as an [`AudioSource`] of 16 kHz mono.
pub struct CpalSource {
    consumer: Option<rtrb::Consumer<f32>>,
    resampler: Option<StreamResampler>,
    pending: Vec<f32>,
    shared: Arc<Shared>,
    device_name: Option<String>,
    status: Vec<DeviceStatus>,
    stream_thread: Option<JoinHandle<()>>,
    next_retry: Instant,
    last_overruns: u64,
    started: Instant,
    delivered: u64,
}

impl std::fmt::Debug for CpalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpalSource")
            .field("device", &self.device_name)
            .field("open", &self.consumer.is_some())
            .finish()
    }
}

impl CpalSource {
    /// Opens the named input device (or the default). A missing device is not an error: the
    /// source reports it and keeps retrying.
    pub fn open(device_name: Option<&str>) -> Self {
        let mut source = Self {
            consumer: None,
            resampler: None,
            pending: Vec::new(),
            shared: Shared::new(),
            device_name: device_name.map(str::to_owned),
            status: Vec::new(),
            stream_thread: None,
            next_retry: Instant::now(),
            last_overruns: 0,
            started: Instant::now(),
            delivered: 0,
        };
        source.try_open();
        source
    }

    /// Whether audio is flowing from a device.
    pub fn is_open(&self) -> bool {
        self.consumer.is_some() && !self.shared.failed.load(Ordering::Relaxed)
    }

    fn try_open(&mut self) {
        self.close();
        self.shared = Shared::new();
        let (ready_tx, ready_rx) = bounded::<Result<(rtrb::Consumer<f32>, u32), String>>(1);
        let shared = Arc::clone(&self.shared);
        let name = self.device_name.clone();
        let thread = std::thread::Builder::new()
            .name("capture-stream".into())
            .spawn(move || input_stream_thread(name.as_deref(), &shared, &ready_tx));
        let Ok(thread) = thread else {
            self.status.push(DeviceStatus::Unavailable("cannot start the capture thread".into()));
            return;
        };
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok((consumer, rate))) => match StreamResampler::new(rate) {
                Ok(r) => {
                    let was_down = self.stream_thread.is_none() && !self.status.is_empty();
                    self.consumer = Some(consumer);
                    self.resampler = Some(r);
                    self.stream_thread = Some(thread);
                    if was_down {
                        self.status.push(DeviceStatus::Restored);
                    }
                }
                Err(e) => self.fail(e.to_string()),
            },
            Ok(Err(e)) => self.fail(e),
            Err(_) => self.fail("the input device did not start".into()),
        }
    }

    fn fail(&mut self, why: String) {
        self.status.push(DeviceStatus::Unavailable(format!(
            "microphone unavailable: {why}; check that a microphone is connected (retrying every {} s)",
            RETRY_EVERY.as_secs()
        )));
        self.next_retry = Instant::now() + RETRY_EVERY;
    }

    fn close(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.consumer = None;
        if let Some(t) = self.stream_thread.take() {
            let _ = t.join();
        }
    }

    /// Status changes since the last call.
    pub fn take_status(&mut self) -> Vec<DeviceStatus> {
        let overruns = self.shared.overruns.load(Ordering::Relaxed);
        if overruns != self.last_overruns {
            self.last_overruns = overruns;
            self.status.push(DeviceStatus::Overruns(overruns));
        }
        std::mem::take(&mut self.status)
    }
}

impl Drop for CpalSource {
    fn drop(&mut self) {
        self.close();
    }
}

impl AudioSource for CpalSource {
    fn next_chunk(&mut self) -> Result<Option<Vec<f32>>, SourceError> {
        loop {
            if self.pending.len() >= CHUNK_SAMPLES {
                self.delivered += CHUNK_SAMPLES as u64;
                return Ok(Some(self.pending.drain(..CHUNK_SAMPLES).collect()));
            }
            if self.shared.failed.load(Ordering::Relaxed) && self.consumer.is_some() {
                self.close();
                self.fail("the input device stopped".into());
            }
            let Some(consumer) = &mut self.consumer else {
                // No device: deliver silence in real time so the pipeline keeps its rhythm, and
                // retry now and then.
                if Instant::now() >= self.next_retry {
                    self.try_open();
                    continue;
                }
                let due = self.started + Duration::from_micros(self.delivered * 1_000_000 / 16_000);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                self.pending.extend(std::iter::repeat_n(0.0, CHUNK_SAMPLES));
                continue;
            };
            let available = consumer.slots();
            if available == 0 {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            let mut raw = Vec::with_capacity(available);
            if let Ok(chunk) = consumer.read_chunk(available) {
                raw.extend(chunk);
            }
            if let Some(r) = &mut self.resampler {
                r.push(&raw, &mut self.pending);
            }
        }
    }

    fn status(&mut self) -> Vec<String> {
        self.take_status()
            .into_iter()
            .map(|s| match s {
                DeviceStatus::Unavailable(why) => why,
                DeviceStatus::Restored => "microphone working again".into(),
                DeviceStatus::Overruns(n) => {
                    format!("audio input overran {n} times (the system is overloaded)")
                }
            })
            .collect()
    }
}

fn find_device(host: &cpal::Host, name: Option<&str>, input: bool) -> Result<cpal::Device, String> {
    match name {
        None => {
            let device = if input { host.default_input_device() } else { host.default_output_device() };
            device.ok_or_else(|| format!("no default {} device", if input { "input" } else { "output" }))
        }
        Some(wanted) => {
            let devices = if input { host.input_devices() } else { host.output_devices() }
                .map_err(|e| e.to_string())?;
            let mut names = Vec::new();
            for d in devices {
                let n = d.name().unwrap_or_default();
                if n == wanted {
                    return Ok(d);
                }
                names.push(n);
            }
            Err(format!("no device named {wanted:?} (available: {})", names.join(", ")))
        }
    }
}

/// Owns the input stream (cpal streams may not move between threads) until told to stop.
fn input_stream_thread(
    name: Option<&str>,
    shared: &Arc<Shared>,
    ready: &Sender<Result<(rtrb::Consumer<f32>, u32), String>>,
) {
    let result = (|| -> Result<(cpal::Stream, rtrb::Consumer<f32>, u32), String> {
        let host = cpal::default_host();
        let device = find_device(&host, name, true)?;
        let supported =
            device.default_input_config().map_err(|e| format!("cannot read the input format ({e})"))?;
        let rate = supported.sample_rate().0;
        let channels = usize::from(supported.channels());
        let (mut producer, consumer) = rtrb::RingBuffer::<f32>::new(rate as usize * CAPTURE_RING_SECONDS);
        let config: cpal::StreamConfig = supported.clone().into();
        let overruns = Arc::clone(shared);
        let failed = Arc::clone(shared);
        let on_error = move |_e: cpal::StreamError| failed.failed.store(true, Ordering::Relaxed);
        macro_rules! build {
            ($t:ty, $to_f32:expr) => {
                device.build_input_stream(
                    &config,
                    move |data: &[$t], _: &cpal::InputCallbackInfo| {
                        // Real-time: mix to mono and push; never block, allocate or log.
                        for frame in data.chunks_exact(channels) {
                            let mono = frame.iter().map(|s| $to_f32(*s)).sum::<f32>() / channels as f32;
                            if producer.push(mono).is_err() {
                                overruns.overruns.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    },
                    on_error,
                    None,
                )
            };
        }
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => build!(f32, |s: f32| s),
            cpal::SampleFormat::I16 => build!(i16, |s: i16| f32::from(s) / f32::from(i16::MAX)),
            cpal::SampleFormat::U16 => build!(u16, |s: u16| (f32::from(s) - 32_768.0) / 32_768.0),
            cpal::SampleFormat::I32 => build!(i32, |s: i32| s as f32 / i32::MAX as f32),
            other => return Err(format!("unsupported sample format {other:?}")),
        }
        .map_err(|e| format!("cannot open the input stream ({e})"))?;
        stream.play().map_err(|e| format!("cannot start the input stream ({e})"))?;
        Ok((stream, consumer, rate))
    })();
    hold_stream(result, shared, ready);
}

/// Why playback failed.
#[derive(Debug, thiserror::Error)]
#[error("speaker unavailable: {0}; the questions stay on screen")]
pub struct PlaybackError(pub String);

/// Audio output: queue PCM, it plays.
pub struct Player {
    producer: std::sync::Mutex<rtrb::Producer<f32>>,
    rate_hz: u32,
    played: Arc<AtomicU64>,
    queued: AtomicU64,
    /// Incremented by `stop`, so a `play` blocked on a full ring gives up.
    epoch: AtomicU64,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player").field("rate_hz", &self.rate_hz).finish_non_exhaustive()
    }
}

impl Player {
    /// Opens the named output device (or the default).
    pub fn open(device_name: Option<&str>) -> Result<Self, PlaybackError> {
        let shared = Shared::new();
        let played = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = bounded::<Result<(rtrb::Producer<f32>, u32), String>>(1);
        let (s2, p2) = (Arc::clone(&shared), Arc::clone(&played));
        let name = device_name.map(str::to_owned);
        let thread = std::thread::Builder::new()
            .name("playback-stream".into())
            .spawn(move || output_stream_thread(name.as_deref(), &s2, &p2, &ready_tx))
            .map_err(|e| PlaybackError(e.to_string()))?;
        let (producer, rate_hz) = ready_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| PlaybackError("the output device did not start".into()))?
            .map_err(PlaybackError)?;
        Ok(Self {
            producer: std::sync::Mutex::new(producer),
            rate_hz,
            played,
            queued: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            shared,
            thread: Some(thread),
        })
    }

    /// Queues audio (resampled to the device rate), waiting while the ring is full.
    pub fn play(&self, pcm: &Pcm) -> Result<(), PlaybackError> {
        if self.shared.failed.load(Ordering::Relaxed) {
            return Err(PlaybackError("the output device stopped".into()));
        }
        let epoch = self.epoch.load(Ordering::Relaxed);
        let samples = resample_to(&pcm.samples, pcm.rate_hz, self.rate_hz);
        let mut producer = self.producer.lock().map_err(|_| PlaybackError("player poisoned".into()))?;
        let mut offset = 0;
        while offset < samples.len() {
            let n = producer.slots().min(samples.len() - offset);
            if n == 0 {
                std::thread::sleep(Duration::from_millis(10));
                if self.shared.failed.load(Ordering::Relaxed) {
                    return Err(PlaybackError("the output device stopped".into()));
                }
                if self.epoch.load(Ordering::Relaxed) != epoch {
                    return Ok(()); // stopped meanwhile
                }
                continue;
            }
            if let Ok(mut chunk) = producer.write_chunk(n) {
                let (a, b) = chunk.as_mut_slices();
                let split = a.len();
                a.copy_from_slice(&samples[offset..offset + split]);
                b.copy_from_slice(&samples[offset + split..offset + n]);
                chunk.commit_all();
            }
            offset += n;
            self.queued.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Whether queued audio is still playing.
    pub fn is_playing(&self) -> bool {
        self.played.load(Ordering::Relaxed) < self.queued.load(Ordering::Relaxed)
    }

    /// Waits (at most `timeout`) until everything queued has played.
    pub fn wait_done(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.is_playing() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Drops whatever is queued (stop speaking).
    pub fn stop(&self) {
        // The callback drops what is in the ring (counting it as played, so waiters return) and
        // a `play` still queueing gives up.
        self.epoch.fetch_add(1, Ordering::Relaxed);
        self.shared.flush.store(true, Ordering::Relaxed);
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn resample_to(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to {
        return samples.to_vec();
    }
    let mut r = match rubato::FftFixedIn::<f32>::new(from as usize, to as usize, 1024, 2, 1) {
        Ok(r) => r,
        Err(_) => return samples.to_vec(),
    };
    use rubato::Resampler as _;
    let mut out = Vec::with_capacity(samples.len() * to as usize / from as usize + 2048);
    for block in samples.chunks(1024) {
        let result = if block.len() == 1024 {
            r.process(&[block], None)
        } else {
            r.process_partial(Some(&[block]), None)
        };
        if let Ok(res) = result {
            out.extend_from_slice(&res[0]);
        }
    }
    if let Ok(res) = r.process_partial::<Vec<f32>>(None, None) {
        out.extend_from_slice(&res[0]);
    }
    out
}

fn output_stream_thread(
    name: Option<&str>,
    shared: &Arc<Shared>,
    played: &Arc<AtomicU64>,
    ready: &Sender<Result<(rtrb::Producer<f32>, u32), String>>,
) {
    let result = (|| -> Result<(cpal::Stream, rtrb::Producer<f32>, u32), String> {
        let host = cpal::default_host();
        let device = find_device(&host, name, false)?;
        let supported =
            device.default_output_config().map_err(|e| format!("cannot read the output format ({e})"))?;
        let rate = supported.sample_rate().0;
        let channels = usize::from(supported.channels());
        let (producer, mut consumer) = rtrb::RingBuffer::<f32>::new(rate as usize * PLAYBACK_RING_SECONDS);
        let config: cpal::StreamConfig = supported.clone().into();
        let failed = Arc::clone(shared);
        let on_error = move |_e: cpal::StreamError| failed.failed.store(true, Ordering::Relaxed);
        let played = Arc::clone(played);
        let flush = Arc::clone(shared);
        macro_rules! build {
            ($t:ty, $from_f32:expr) => {
                device.build_output_stream(
                    &config,
                    move |data: &mut [$t], _: &cpal::OutputCallbackInfo| {
                        // Real-time: pop and copy to every channel; silence when empty.
                        let mut n = 0u64;
                        if flush.flush.swap(false, Ordering::Relaxed) {
                            let queued = consumer.slots();
                            if let Ok(chunk) = consumer.read_chunk(queued) {
                                chunk.commit_all();
                                n += queued as u64;
                            }
                        }
                        for frame in data.chunks_exact_mut(channels) {
                            let v = match consumer.pop() {
                                Ok(v) => {
                                    n += 1;
                                    v
                                }
                                Err(_) => 0.0,
                            };
                            for s in frame.iter_mut() {
                                *s = $from_f32(v);
                            }
                        }
                        played.fetch_add(n, Ordering::Relaxed);
                    },
                    on_error,
                    None,
                )
            };
        }
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => build!(f32, |v: f32| v),
            cpal::SampleFormat::I16 => {
                build!(i16, |v: f32| (v.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)
            }
            cpal::SampleFormat::U16 => {
                build!(u16, |v: f32| ((v.clamp(-1.0, 1.0) * 32_767.0) + 32_768.0) as u16)
            }
            other => return Err(format!("unsupported sample format {other:?}")),
        }
        .map_err(|e| format!("cannot open the output stream ({e})"))?;
        stream.play().map_err(|e| format!("cannot start the output stream ({e})"))?;
        Ok((stream, producer, rate))
    })();
    hold_stream(result, shared, ready);
}

/// Hands the ring end to the opener, then keeps the stream alive on this thread (cpal streams may
/// not move between threads) until told to stop.
fn hold_stream<T>(
    result: Result<(cpal::Stream, T, u32), String>,
    shared: &Shared,
    ready: &Sender<Result<(T, u32), String>>,
) {
    match result {
        Ok((stream, ring, rate)) => {
            if ready.send(Ok((ring, rate))).is_err() {
                return;
            }
            while !shared.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(stream);
        }
        Err(e) => {
            let _ = ready.send(Err(e));
        }
    }
}
