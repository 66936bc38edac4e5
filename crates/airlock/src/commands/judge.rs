//! `airlock judge TRACE.jsonl`: the rules over a stored trace, streamed (a trace of
//! millions of events is judged in bounded memory); no sandbox.

use crate::commands::scan;
use crate::{judging, Format, JudgeArgs};

pub fn run(args: JudgeArgs) -> u8 {
    let result = (|| {
        let rules = judging::load_rules(args.rules.as_deref())?;
        let waivers = args.waivers.load(&std::env::current_dir()?, &rules)?;
        let file = std::fs::File::open(&args.trace)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.trace.display()))?;
        let html = args.format == Format::Html;
        let judged = judging::judge_stream_waived(
            &rules,
            std::io::BufReader::new(file),
            html,
            |_| None,
            waivers.as_ref(),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.trace.display()))?;
        let text = judging::render_with(
            &judged.report,
            judged.timeline.as_ref(),
            args.format,
            args.output.is_none(),
        )?;
        scan::emit(&text, args.output.as_deref())?;
        anyhow::Ok(scan::run_exit_code(
            judged.verdict,
            judged.report.trace_complete,
            args.fail_on,
        ))
    })();
    match result {
        Ok(code) => code,
        Err(e) => {
            crate::commands::print_error(&e);
            2
        }
    }
}
