//! `keep` filters: comparisons of metadata fields with literals.

use super::ROLES;
use crate::check::Checker;
use crate::check::values::Entries;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::Span;
use crate::study::*;
use crate::syntax::ast::{self, Expr, Unit, Value};

pub(in crate::check) fn mirror(op: ast::CompareOp) -> ast::CompareOp {
    use ast::CompareOp::*;
    match op {
        Lt => Gt,
        Le => Ge,
        Gt => Lt,
        Ge => Le,
        other => other,
    }
}

pub(in crate::check) fn compare_op(op: ast::CompareOp) -> CompareOp {
    match op {
        ast::CompareOp::Eq => CompareOp::Eq,
        ast::CompareOp::Ne => CompareOp::Ne,
        ast::CompareOp::Lt => CompareOp::Lt,
        ast::CompareOp::Le => CompareOp::Le,
        ast::CompareOp::Gt => CompareOp::Gt,
        ast::CompareOp::Ge => CompareOp::Ge,
    }
}

impl Checker<'_> {
    /// All `keep` filters of a manifest, combined with `and`.
    pub(in crate::check) fn keep_filter(
        &mut self,
        e: &Entries,
        columns: &Columns,
    ) -> Option<Filter> {
        let mut filters: Vec<Filter> = e
            .keeps
            .iter()
            .filter_map(|k| self.filter(&k.expr, columns))
            .collect();
        match filters.len() {
            0 => None,
            1 => filters.pop(),
            _ => Some(Filter::And(filters)),
        }
    }

    pub(in crate::check) fn filter(&mut self, expr: &Expr, columns: &Columns) -> Option<Filter> {
        match expr {
            Expr::And(parts, _) => Some(Filter::And(
                parts
                    .iter()
                    .map(|p| self.filter(p, columns))
                    .collect::<Option<_>>()?,
            )),
            Expr::Or(parts, _) => Some(Filter::Or(
                parts
                    .iter()
                    .map(|p| self.filter(p, columns))
                    .collect::<Option<_>>()?,
            )),
            Expr::Not(inner, _) => Some(Filter::Not(Box::new(self.filter(inner, columns)?))),
            Expr::Compare { lhs, op, rhs, span } => {
                let (field_expr, value_expr, op) = match (lhs.as_ref(), rhs.as_ref()) {
                    (Expr::Ref(_), _) => (lhs.as_ref(), rhs.as_ref(), *op),
                    (_, Expr::Ref(_)) => (rhs.as_ref(), lhs.as_ref(), mirror(*op)),
                    _ => {
                        self.error(
                            Diagnostic::new(
                                Code::WrongType,
                                "a filter compares a column with a value",
                            )
                            .at(*span, "no column here")
                            .help("for example: age >= 18"),
                        );
                        return None;
                    }
                };
                let field = self.field(field_expr, columns)?;
                let value = self.literal(value_expr)?;
                let ordering = !matches!(op, ast::CompareOp::Eq | ast::CompareOp::Ne);
                if ordering && matches!(value, Literal::Text(_)) {
                    self.error(
                        Diagnostic::new(
                            Code::WrongType,
                            format!("`{}` orders numbers, not text", op.symbol()),
                        )
                        .at(value_expr.span(), "text here")
                        .help("compare text with `==`, `!=` or `in [...]`"),
                    );
                    return None;
                }
                self.field_accepts(&field, &value, value_expr.span())?;
                Some(Filter::Compare {
                    field,
                    op: compare_op(op),
                    value,
                })
            }
            Expr::In {
                expr,
                list,
                negated,
                ..
            } => {
                let field = self.field(expr, columns)?;
                let mut values = Vec::new();
                for v in list {
                    let lit = match v {
                        Value::Str(s) => Literal::Text(s.value.clone()),
                        Value::Number(n) if n.unit == Unit::None => Literal::Number(n.value),
                        other => {
                            self.wrong_type(other, "a string or a number", "a list element");
                            return None;
                        }
                    };
                    self.field_accepts(&field, &lit, v.span())?;
                    values.push(lit);
                }
                Some(Filter::In {
                    field,
                    values,
                    negated: *negated,
                })
            }
            Expr::Missing { expr, negated, .. } => Some(Filter::Missing {
                field: self.field(expr, columns)?,
                negated: *negated,
            }),
            other => {
                self.error(
                    Diagnostic::new(Code::WrongType, "a `keep` filter must be a condition")
                        .at(other.span(), "not a condition")
                        .help("for example: keep view in [\"PA\", \"AP\"] and age is not missing"),
                );
                None
            }
        }
    }

    /// A column in a filter: a role (`age`), an extra metadata name, a raw column name, or `column("X")`.
    pub(in crate::check) fn field(&mut self, expr: &Expr, columns: &Columns) -> Option<Field> {
        let Expr::Ref(r) = expr else {
            self.error(
                Diagnostic::new(Code::WrongType, "expected a column name")
                    .at(expr.span(), "not a column")
                    .help("for example: view, age, or column(\"Finding Labels\")"),
            );
            return None;
        };
        match (r.segments.as_slice(), r.selector.is_empty()) {
            ([seg], true) if seg.args.is_none() => {
                let name = &seg.name.name;
                if ROLES.contains(&name.as_str()) || columns.extra.contains_key(name) {
                    Some(Field::Role(name.clone()))
                } else {
                    Some(Field::Column(name.clone()))
                }
            }
            ([seg], true) if seg.name.name == "column" => match seg.args.as_deref() {
                Some([ast::SegmentArg::Str(s)]) => Some(Field::Column(s.value.clone())),
                _ => {
                    self.error(
                        Diagnostic::new(Code::WrongType, "`column(...)` takes one string")
                            .at(seg.span, "expected `column(\"NAME\")`"),
                    );
                    None
                }
            },
            _ => {
                self.error(
                    Diagnostic::new(Code::WrongType, "a filter refers to a column by name")
                        .at(r.span, "not a column")
                        .help("for example: view, age, or column(\"Finding Labels\")"),
                );
                None
            }
        }
    }

    pub(in crate::check) fn literal(&mut self, expr: &Expr) -> Option<Literal> {
        match expr {
            Expr::Number(n) if n.unit == Unit::None => Some(Literal::Number(n.value)),
            Expr::Neg(inner, _) => match inner.as_ref() {
                Expr::Number(n) if n.unit == Unit::None => Some(Literal::Number(-n.value)),
                other => {
                    self.error(
                        Diagnostic::new(Code::WrongType, "expected a number")
                            .at(other.span(), "not a number"),
                    );
                    None
                }
            },
            Expr::Str(s) => Some(Literal::Text(s.value.clone())),
            other => {
                self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        "a filter compares with a literal string or number",
                    )
                    .at(other.span(), "not a literal")
                    .help("for example: sex == \"F\" or age < 18"),
                );
                None
            }
        }
    }

    /// Ages are numbers; sex, view, source, label, patient and image are text.
    pub(in crate::check) fn field_accepts(
        &mut self,
        field: &Field,
        value: &Literal,
        span: Span,
    ) -> Option<()> {
        let Field::Role(role) = field else {
            return Some(());
        };
        let numeric = role == "age";
        let textual = ROLES.contains(&role.as_str()) && !numeric;
        match value {
            Literal::Text(_) if numeric => {
                self.error(
                    Diagnostic::new(Code::WrongType, "`age` is a number")
                        .at(span, "text compared with a number")
                        .help("write the age without quotes: age >= 18"),
                );
                None
            }
            Literal::Number(_) if textual => {
                self.error(
                    Diagnostic::new(Code::WrongType, format!("`{role}` is text"))
                        .at(span, "number compared with text")
                        .help(format!("quote the value: {role} == \"...\"")),
                );
                None
            }
            _ => Some(()),
        }
    }

    // Crops
}
