//! How large a statement may be. Long chains of operators parse into trees as deep as the
//! chain (`a AND b AND …`, `x = 1 OR x = 2 OR …`); much of the work on a tree recurses as deep
//! as it is (see [`crate::runtime`]). AND / OR chains are rebalanced before planning, so they
//! cost depth log2(n); what is left is bounded here, before the statement is parsed:
//! - at most [`MAX_OPERATORS`] operators in one statement (a 100,000-value `IN (…)` list is
//!   one operator: lists are flat);
//! - parentheses, subqueries and function calls nested at most [`MAX_NESTING`] deep
//!   (sqlparser's recursion limit, raised from its default of 50);
//! - expressions at most [`MAX_DEPTH`] deep, AND / OR not counted: `a + a + … + a` with
//!   10,000 terms is refused (DataFusion's type inference is quadratic in such a chain), a
//!   10,000-condition WHERE is not.
//!
//! Both fit the stacks of [`crate::runtime::STACK_SIZE`] with room to spare; a statement past
//! either is refused with an error that names the limit, and nothing of it runs.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Spanned, Visit, Visitor};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Location as SqlLocation, Token, TokenWithSpan};

use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};

use crate::error::{Error, Location};

/// Operators (AND, OR, comparisons, arithmetic, casts, …) in one statement.
pub const MAX_OPERATORS: usize = 100_000;

/// How deep parentheses, subqueries and function calls may nest.
pub const MAX_NESTING: usize = 200;

/// How deep an expression may be, not counting AND and OR (which are rebalanced).
pub const MAX_DEPTH: usize = 1_000;

fn is_operator(token: &Token) -> bool {
    match token {
        Token::Word(w) if w.quote_style.is_none() => matches!(
            w.keyword,
            Keyword::AND
                | Keyword::OR
                | Keyword::XOR
                | Keyword::NOT
                | Keyword::IS
                | Keyword::IN
                | Keyword::LIKE
                | Keyword::ILIKE
                | Keyword::SIMILAR
                | Keyword::RLIKE
                | Keyword::REGEXP
                | Keyword::BETWEEN
                | Keyword::COLLATE
                | Keyword::AT
                | Keyword::OVERLAPS
        ),
        Token::DoubleEq
        | Token::Eq
        | Token::Neq
        | Token::Lt
        | Token::Gt
        | Token::LtEq
        | Token::GtEq
        | Token::Spaceship
        | Token::Plus
        | Token::Minus
        | Token::Mul
        | Token::Div
        | Token::DuckIntDiv
        | Token::Mod
        | Token::StringConcat
        | Token::DoubleColon
        | Token::LBracket
        | Token::Ampersand
        | Token::Pipe
        | Token::Caret
        | Token::Sharp
        | Token::Tilde
        | Token::TildeAsterisk
        | Token::ExclamationMarkTilde
        | Token::ExclamationMarkTildeAsterisk
        | Token::DoubleTilde
        | Token::DoubleTildeAsterisk
        | Token::ShiftLeft
        | Token::ShiftRight
        | Token::Arrow
        | Token::LongArrow
        | Token::HashArrow
        | Token::HashLongArrow
        | Token::AtArrow
        | Token::ArrowAt
        | Token::Question
        | Token::QuestionAnd
        | Token::QuestionPipe => true,
        _ => false,
    }
}

/// Refuses a statement of the script with more than [`MAX_OPERATORS`] operators, pointing at
/// the first operator past the limit.
pub(super) fn check_operators(tokens: &[TokenWithSpan]) -> Result<(), Error> {
    let mut count = 0usize;
    for t in tokens {
        if t.token == Token::SemiColon {
            count = 0;
        } else if is_operator(&t.token) {
            count += 1;
            if count > MAX_OPERATORS {
                return Err(Error::Parse {
                    message: format!(
                        "this statement has more than {MAX_OPERATORS} operators, TagFusion's \
                         limit for one statement: split it, or write long lists of values as \
                         x IN (v1, v2, …)"
                    ),
                    location: Location::from(t.span.start),
                });
            }
        }
    }
    Ok(())
}

/// sqlparser's "RecursionLimitExceeded", said so that the user knows the limit and what to do,
/// at the token where the parser gave up.
pub(super) fn explain_nesting(e: Error, here: SqlLocation) -> Error {
    match e {
        Error::Parse { message, location }
            if message.contains("RecursionLimitExceeded")
                || message.contains("recursion limit exceeded") =>
        {
            let location = if here.line > 0 {
                Location::from(here)
            } else {
                location
            };
            Error::Parse {
                message: format!(
                    "parentheses, subqueries or function calls nest more than {MAX_NESTING} \
                     levels deep here, the parser's limit: write the expression flatter (e.g. \
                     a AND b AND c in place of nested parentheses)"
                ),
                location,
            }
        }
        other => other,
    }
}

/// Refuses an expression deeper than [`MAX_DEPTH`] (AND and OR not counted), pointing at it.
pub(super) fn check_depth<V: Visit>(node: &V) -> Result<(), Error> {
    struct Depth(usize);
    fn counts(expr: &Expr) -> bool {
        !matches!(
            expr,
            Expr::BinaryOp {
                op: BinaryOperator::And | BinaryOperator::Or,
                ..
            }
        )
    }
    impl Visitor for Depth {
        type Break = SqlLocation;
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlLocation> {
            if counts(expr) {
                self.0 += 1;
                if self.0 > MAX_DEPTH {
                    return ControlFlow::Break(expr.span().start);
                }
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlLocation> {
            if counts(expr) {
                self.0 -= 1;
            }
            ControlFlow::Continue(())
        }
    }
    match node.visit(&mut Depth(0)) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(at) => Err(Error::Parse {
            message: format!(
                "this expression is nested more than {MAX_DEPTH} operators deep, TagFusion's \
                 limit (AND and OR do not count): split it into steps, e.g. sum several columns \
                 with a CTE per part"
            ),
            location: Location::from(at),
        }),
    }
}

/// [`check_depth`] for each part of a DataFusion statement that holds expressions.
pub(super) fn check_statement_depth(statement: &DFStatement) -> Result<(), Error> {
    match statement {
        DFStatement::Statement(inner) => check_depth(inner.as_ref()),
        DFStatement::CopyTo(copy) => match &copy.source {
            CopyToSource::Query(query) => check_depth(query.as_ref()),
            CopyToSource::Relation(_) => Ok(()),
        },
        DFStatement::Explain(explain) => check_statement_depth(&explain.statement),
        DFStatement::CreateExternalTable(_) | DFStatement::Reset(_) => Ok(()),
    }
}
