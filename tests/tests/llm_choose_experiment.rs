//! Experiment: the language model choosing the complaint among the protocols' names.

use std::sync::atomic::AtomicBool;

use kiosk_tests::models_dir;
use llm::{Llm, ModelFiles, chat_prompt};
use protocol::Lang;

#[test]
#[ignore]
fn choose_complaints() {
    let llm = Llm::load(&ModelFiles::installed(&models_dir())).expect("model");
    let kb = dialogue::KnowledgeBase::embedded().expect("kb");
    let protocols: Vec<(String, String, String)> =
        kb.protocols.iter().map(|p| (p.id.clone(), p.name.zh.clone(), p.name.en.clone())).collect();
    let cancel = AtomicBool::new(false);
    let mut conv = llm.conversation();
    let mut base = llm.conversation();
    let (mut right, mut all) = (0, 0);
    let mut total_ms = 0.0;
    for file in ["dialogue/cases/paraphrase_cases.jsonl", "dialogue/cases/paraphrase_heldout.jsonl"] {
        let text =
            std::fs::read_to_string(format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"))).expect("file");
        let cases = dialogue::eval::parse_paraphrases(&text).expect("cases");
        for case in cases.iter().filter(|c| c.answer_to.is_none()) {
            let zh = case.lang == Lang::Zh;
            let names: Vec<&str> =
                protocols.iter().map(|(_, z, e)| if zh { z.as_str() } else { e.as_str() }).collect();
            let system = if zh {
                format!(
                    "你是医院导诊护士。患者说出来医院的原因，你从下面的主诉中选出最符合的一项，只回答这一项的名称。\n主诉：{}",
                    names.join("、")
                )
            } else {
                format!(
                    "You are a hospital triage nurse. The patient says why they came; choose the one complaint below that fits best and answer with its name only.\nComplaints: {}",
                    names.join("; ")
                )
            };
            let prompt = chat_prompt(&system, &[&case.text]);
            let t = std::time::Instant::now();
            let neutral = chat_prompt(&system, &[if zh { "我不舒服。" } else { "I don't feel well." }]);
            let i = llm
                .choose_against(&mut conv, &prompt, Some((&mut base, &neutral)), &names, &cancel)
                .expect("choice");
            total_ms += t.elapsed().as_secs_f64() * 1000.0;
            let got = &protocols[i].0;
            let gold = case.protocol.clone().unwrap_or_default();
            let ok = *got == gold || case.acceptable.contains(got);
            all += 1;
            right += usize::from(ok);
            println!("{} {} {} -> {got} (want {gold})", if ok { "OK " } else { "XX " }, case.id, case.text);
        }
    }
    println!("{right}/{all} right, {:.0} ms per opening", total_ms / all as f64);
}
