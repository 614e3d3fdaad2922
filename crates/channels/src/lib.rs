//! resonanz-channels
