//! Integration tests over real HTTP on 127.0.0.1: the simulator on one side, a receiver
//! that checks signatures with its own HMAC on the other.

#![allow(dead_code)]

mod support;

mod control;
mod inbound;
mod media;
mod messenger;
mod templates;
mod whatsapp;
