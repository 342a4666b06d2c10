//! Prints what the matcher finds in each line of stdin (development aid).
use std::io::BufRead;
use std::sync::Arc;

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("models dir"));
    let e5 = Arc::new(embed::e5::E5::load_from_models_dir(&dir).expect("load"));
    let kb = dialogue::KnowledgeBase::embedded().expect("kb");
    let cfg = embed::MatcherConfig { threshold: 0.45, cache_dir: Some("/tmp/embed-cache".into()) };
    let m = embed::Matcher::build(e5, &kb, &cfg).expect("build");
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("line");
        let lang = if line.is_ascii() { protocol::Lang::En } else { protocol::Lang::Zh };
        let top: Vec<String> = m
            .scores(&line)
            .expect("scores")
            .into_iter()
            .take(4)
            .map(|(c, s)| format!("{c} {s:.3}"))
            .collect();
        let found: Vec<String> = m
            .match_text(&line, lang)
            .expect("match")
            .into_iter()
            .map(|(c, s)| format!("{c} {s:.3}"))
            .collect();
        println!("{line} => whole: {} | clauses: {}", top.join(", "), found.join(", "));
    }
}
