//! The parser pest derives from `grammar/study.pest`: `StudyParser` and its `Rule` enum.

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/study.pest"]
pub struct StudyParser;
