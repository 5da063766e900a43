//! Long AND / OR chains, as segment tools generate them (`id = 1 OR id = 2 OR …`, thousands of
//! predicates), parse into a tree as deep as the chain is long. DataFusion's type coercion then
//! asks every node for its type, which walks the whole subtree below it: quadratic work (2,000
//! ANDs took 12 s in a debug build, 10,000 did not finish in 5 minutes) and recursion as deep
//! as the chain. AND and OR are associative (SQL's three-valued logic included), so this rule,
//! the first of the analyzer, rebuilds every chain of one operator as a balanced tree of the
//! same operands in the same order: depth log2(n), and 10,000 conditions plan in milliseconds.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::error::Result;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct BalanceChains;

impl AnalyzerRule for BalanceChains {
    fn name(&self) -> &str {
        "tagfusion_balance_chains"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // Output names stay as they were (a projected `a OR b OR c` keeps its column name).
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let balanced = expr.transform_down(balance)?;
                Ok(if balanced.transformed {
                    balanced.update_data(|e| saved.restore(e))
                } else {
                    balanced
                })
            })
        })
        .data()
    }
}

/// Rebalances the chain rooted at `expr`, if it is one. Children are visited afterwards by
/// `transform_down`: operands holding chains of the other operator are balanced in turn.
fn balance(expr: Expr) -> Result<Transformed<Expr>> {
    let op = match &expr {
        Expr::BinaryExpr(b) if matches!(b.op, Operator::And | Operator::Or) => b.op,
        _ => return Ok(Transformed::no(expr)),
    };
    // Flatten without recursion: the chain may be thousands of nodes deep.
    let mut operands = Vec::new();
    let mut depth = 0;
    let mut stack = vec![(expr, 0usize)];
    while let Some((e, d)) = stack.pop() {
        match e {
            Expr::BinaryExpr(b) if b.op == op => {
                stack.push((*b.right, d + 1));
                stack.push((*b.left, d + 1));
            }
            operand => {
                depth = depth.max(d);
                operands.push(operand);
            }
        }
    }
    let balanced_depth = operands.len().next_power_of_two().trailing_zeros() as usize;
    let changed = depth > balanced_depth;
    Ok(Transformed::new_transformed(
        build_balanced(operands, op),
        changed,
    ))
}

/// Combines neighbours pairwise until one expression is left: order kept, depth ⌈log2 n⌉.
fn build_balanced(mut operands: Vec<Expr>, op: Operator) -> Expr {
    while operands.len() > 1 {
        let mut next = Vec::with_capacity(operands.len().div_ceil(2));
        let mut items = operands.into_iter();
        while let Some(left) = items.next() {
            next.push(match items.next() {
                Some(right) => {
                    Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)))
                }
                None => left,
            });
        }
        operands = next;
    }
    operands.pop().expect("a chain has at least two operands")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    fn depth(e: &Expr) -> usize {
        match e {
            Expr::BinaryExpr(b) => 1 + depth(&b.left).max(depth(&b.right)),
            _ => 0,
        }
    }

    #[test]
    fn chains_become_balanced_in_order() {
        let chain = (1..=1000)
            .map(|i| col("id").eq(lit(i)))
            .reduce(Expr::or)
            .unwrap();
        assert_eq!(depth(&chain), 1000);
        let balanced = chain.transform_down(balance).unwrap();
        assert!(balanced.transformed);
        assert_eq!(depth(&balanced.data), 10 + 1);
        // Operands keep their order.
        let mut seen = Vec::new();
        let _ = balanced.data.apply(|e| {
            if let Expr::Literal(v, _) = e {
                seen.push(v.to_string());
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        });
        let expected: Vec<String> = (1..=1000).map(|i| i.to_string()).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn short_chains_and_other_operators_are_left_alone() {
        let e = col("a").and(col("b")).or(col("c").and(col("d")));
        assert!(!e.clone().transform_down(balance).unwrap().transformed);
        let sum = (1..=100).map(lit).reduce(|a, b| a + b).unwrap();
        assert!(!sum.transform_down(balance).unwrap().transformed);
    }
}
