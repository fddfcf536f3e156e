//! An evaluator of LightGBM's text model format, for what nade's
//! regressors use: one class, numerical splits only, no missing-value
//! handling (`decision_type=2`), identity output. Anything else is refused
//! at load rather than evaluated wrongly. Trees are flattened into one node
//! array; a batch is evaluated tree by tree, so each row still sums its
//! leaves in f64 in tree order, as LightGBM does.

#[derive(Debug, thiserror::Error)]
#[error("LightGBM model: {0}")]
pub struct LightGbmError(String);

/// 12 bytes, so a tree's nodes share a cache line or two.
#[derive(Clone, Copy)]
struct Node {
    /// The largest f32 not above the model's f64 threshold: for an f32
    /// feature x, `x <= it` exactly when `f64::from(x) <= threshold`.
    threshold: f32,
    feature: u16,
    /// ≥ 0: a node index (within the tree); < 0: !leaf.
    left: i16,
    right: i16,
}

/// The largest f32 that is ≤ `t`.
fn f32_at_or_below(t: f64) -> f32 {
    let near = t as f32;
    if f64::from(near) <= t { near } else { near.next_down() }
}

struct Tree {
    nodes: usize,
    leaves: usize,
}

pub struct Booster {
    nodes: Vec<Node>,
    leaf_values: Vec<f64>,
    trees: Vec<Tree>,
    features: usize,
}

impl Booster {
    pub fn parse(text: &str) -> Result<Booster, LightGbmError> {
        let err = |m: String| LightGbmError(m);
        let header = text.split("\nTree=").next().unwrap_or_default();
        let field = |block: &str, key: &str| -> Option<String> {
            block.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('=')).map(str::to_owned))
        };
        match field(header, "objective").as_deref() {
            Some("regression") => {}
            other => return Err(err(format!("objective {other:?}: only plain regression"))),
        }
        if field(header, "num_class").as_deref() != Some("1") {
            return Err(err("only one class".into()));
        }
        if header.lines().any(|l| l == "average_output") {
            return Err(err("average_output (random forest) is not supported".into()));
        }
        let features: usize = field(header, "max_feature_idx")
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| err("no max_feature_idx".into()))?
            + 1;
        let body = text.split("\nend of trees").next().unwrap_or_default();
        let mut booster = Booster { nodes: Vec::new(), leaf_values: Vec::new(), trees: Vec::new(), features };
        for block in body.split("\nTree=").skip(1) {
            booster.push_tree(block, &field).map_err(|m| err(format!("tree {}: {m}", booster.trees.len())))?;
        }
        if booster.trees.is_empty() {
            return Err(err("no trees".into()));
        }
        Ok(booster)
    }

    fn push_tree(&mut self, block: &str, field: &dyn Fn(&str, &str) -> Option<String>) -> Result<(), String> {
        fn list<T: std::str::FromStr>(value: Option<String>, key: &str) -> Result<Vec<T>, String> {
            let value = value.ok_or_else(|| format!("no {key}"))?;
            value.split_whitespace().map(|v| v.parse().map_err(|_| format!("{key}: bad value {v:?}"))).collect()
        }
        let num_leaves: usize = field(block, "num_leaves").and_then(|v| v.parse().ok()).ok_or("no num_leaves")?;
        if field(block, "num_cat").is_some_and(|v| v != "0") {
            return Err("categorical splits are not supported".into());
        }
        if field(block, "is_linear").is_some_and(|v| v != "0") {
            return Err("linear trees are not supported".into());
        }
        let leaf_values: Vec<f64> = list(field(block, "leaf_value"), "leaf_value")?;
        if leaf_values.len() != num_leaves {
            return Err(format!("{} leaf values for {num_leaves} leaves", leaf_values.len()));
        }
        let nodes = if num_leaves > 1 {
            let features: Vec<u32> = list(field(block, "split_feature"), "split_feature")?;
            let thresholds: Vec<f64> = list(field(block, "threshold"), "threshold")?;
            let decisions: Vec<u8> = list(field(block, "decision_type"), "decision_type")?;
            let lefts: Vec<i32> = list(field(block, "left_child"), "left_child")?;
            let rights: Vec<i32> = list(field(block, "right_child"), "right_child")?;
            let n = num_leaves - 1;
            if [features.len(), thresholds.len(), decisions.len(), lefts.len(), rights.len()].iter().any(|&l| l != n) {
                return Err(format!("split lists are not all {n} long"));
            }
            if let Some(d) = decisions.iter().find(|&&d| d != 2) {
                return Err(format!("decision_type {d}: only numerical, default-left, no missing handling"));
            }
            let in_range = |c: i32| if c >= 0 { (c as usize) < n } else { ((!c) as usize) < num_leaves };
            if features.iter().any(|&f| f as usize >= self.features)
                || !lefts.iter().chain(&rights).all(|&c| in_range(c))
            {
                return Err("a split refers to a feature, node or leaf that does not exist".into());
            }
            if n > i16::MAX as usize || self.features > u16::MAX as usize {
                return Err(format!("{n} nodes or {} features is more than this evaluator packs", self.features));
            }
            (0..n)
                .map(|i| Node {
                    threshold: f32_at_or_below(thresholds[i]),
                    feature: features[i] as u16,
                    left: lefts[i] as i16,
                    right: rights[i] as i16,
                })
                .collect()
        } else {
            Vec::new()
        };
        self.trees.push(Tree { nodes: self.nodes.len(), leaves: self.leaf_values.len() });
        self.nodes.extend::<Vec<Node>>(nodes);
        self.leaf_values.extend(leaf_values);
        Ok(())
    }

    pub fn features(&self) -> usize {
        self.features
    }

    /// Raw scores of `rows` (each `features()` long), added to `out`.
    /// Features are f32 and compared widened to f64, as LightGBM does with
    /// the f32 probabilities it is given as doubles.
    pub fn predict_into(&self, rows: &[&[f32]], out: &mut [f64]) {
        for (t, tree) in self.trees.iter().enumerate() {
            let next_nodes = self.trees.get(t + 1).map_or(self.nodes.len(), |n| n.nodes);
            let nodes = &self.nodes[tree.nodes..next_nodes];
            let leaves = &self.leaf_values[tree.leaves..];
            for (row, sum) in rows.iter().zip(out.iter_mut()) {
                *sum += leaves[leaf_of(nodes, row)];
            }
        }
    }
}

fn leaf_of(nodes: &[Node], row: &[f32]) -> usize {
    if nodes.is_empty() {
        return 0;
    }
    let mut at = 0i16;
    while at >= 0 {
        let node = nodes[at as usize];
        at = if row[node.feature as usize] <= node.threshold { node.left } else { node.right };
    }
    (!at) as usize
}

#[cfg(test)]
mod tests {
    use super::Booster;

    const MODEL: &str = "tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=1\nobjective=regression\n\n\
Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 1\nthreshold=0.5 0.25\ndecision_type=2 2\nleft_child=-1 -2\nright_child=1 -3\nleaf_value=1 2 3\nis_linear=0\nshrinkage=1\n\n\n\
Tree=1\nnum_leaves=1\nnum_cat=0\nleaf_value=0.5\nis_linear=0\nshrinkage=1\n\n\nend of trees\n";

    #[test]
    fn leaves_are_summed_going_left_at_or_below_the_threshold() {
        let b = Booster::parse(MODEL).unwrap();
        let rows: [&[f32]; 4] = [&[0.5, 9.0], &[0.6, 0.25], &[0.6, 0.3], &[0.0, 0.0]];
        let mut out = [0.0; 4];
        b.predict_into(&rows, &mut out);
        assert_eq!(out, [1.5, 2.5, 3.5, 1.5]);
    }

    #[test]
    fn f32_thresholds_decide_exactly_as_the_f64_ones() {
        for t in [0.1f64, 0.0022975050378590827, 1.0000003385357559e-05, 0.5, -0.3, 1e-40] {
            let t32 = super::f32_at_or_below(t);
            let x = t as f32;
            for x in [x.next_down(), x, x.next_up(), t32, t32.next_up()] {
                assert_eq!(x <= t32, f64::from(x) <= t, "x {x:e} t {t:e}");
            }
        }
    }

    #[test]
    fn what_it_cannot_evaluate_exactly_is_refused() {
        assert!(Booster::parse(&MODEL.replace("decision_type=2 2", "decision_type=2 10")).is_err());
        assert!(Booster::parse(&MODEL.replace("objective=regression", "objective=binary sigmoid:1")).is_err());
        assert!(Booster::parse(&MODEL.replace("split_feature=0 1", "split_feature=0 7")).is_err());
    }
}
