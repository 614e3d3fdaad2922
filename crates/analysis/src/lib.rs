//! resonanz-analysis
