//! Compliance rules as pure functions: the 24-hour service window, consent
//! (opt-in/opt-out) and the social media guideline. Everything outbound is
//! checked here before any API call.
