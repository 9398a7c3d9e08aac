//! The device link over TCP: each message a frame (4-byte big-endian length, then the bytes).
//!
//! The device listens ([`serve`]), the gateway connects ([`TcpLink`]) and reconnects after any
//! error. It carries key material (key generation's fragments): outside loopback it must run
//! inside an encrypted, authenticated channel (TLS or a Noise session); see `docs/wallet.md`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::host::LocalLink;
use crate::link::{DeviceLink, LinkError};

/// The largest frame either side accepts (key generation's largest message is ~100 KB).
pub const MAX_FRAME: usize = 1 << 20;

/// Writes one frame: the length (4 bytes, big-endian), then the bytes.
pub fn write_frame(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    stream.write_all(&len.to_be_bytes())?;
    stream.write_all(bytes)?;
    stream.flush()
}

/// Reads one frame; refuses one above [`MAX_FRAME`].
pub fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is above the {MAX_FRAME} byte limit"),
        ));
    }
    let mut bytes = vec![0u8; len];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// The asking end of a connection (the gateway to its device, or a device to its gateway's
/// payment service): opened on first use and after an error.
pub struct TcpLink {
    addr: SocketAddr,
    timeout: Duration,
    stream: Mutex<Option<TcpStream>>,
}

impl TcpLink {
    /// A link to the device listening at `addr`; each call waits at most `timeout`.
    pub fn new(addr: SocketAddr, timeout: Duration) -> TcpLink {
        TcpLink { addr, timeout, stream: Mutex::new(None) }
    }

    /// One request and its answer, on the open connection or a new one. A connection the other
    /// end closed since its last use (a device that restarted) is opened again once: the
    /// request never reached a live peer. A timeout is no such case and is not repeated.
    fn exchange(&self, slot: &mut Option<TcpStream>, request: &[u8]) -> std::io::Result<Vec<u8>> {
        let reused = slot.is_some();
        match self.exchange_once(slot, request) {
            Err(e) if reused && closed_by_peer(&e) => {
                *slot = None;
                self.exchange_once(slot, request)
            }
            result => result,
        }
    }

    fn exchange_once(
        &self,
        slot: &mut Option<TcpStream>,
        request: &[u8],
    ) -> std::io::Result<Vec<u8>> {
        if slot.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, self.timeout)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(self.timeout))?;
            stream.set_write_timeout(Some(self.timeout))?;
            *slot = Some(stream);
        }
        let stream = slot.as_mut().expect("connected above");
        write_frame(stream, request)?;
        read_frame(stream)
    }
}

/// Whether `e` says the other end closed the connection (rather than being slow).
fn closed_by_peer(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe)
}

impl DeviceLink for TcpLink {
    fn call(&self, request: &[u8]) -> Result<Vec<u8>, LinkError> {
        let mut slot = self.stream.lock().unwrap_or_else(|p| p.into_inner());
        self.exchange(&mut slot, request).map_err(|e| {
            *slot = None;
            LinkError(format!("{}: {e}", self.addr))
        })
    }
}

/// Serves framed requests on `listener` until it fails, one thread per connection: each
/// request's answer is `answer(request)`. A frame above [`MAX_FRAME`] or a broken connection
/// ends that connection.
pub fn serve_frames(
    listener: TcpListener,
    answer: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> JoinHandle<()> {
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                while let Ok(request) = read_frame(&mut stream) {
                    if write_frame(&mut stream, &answer(&request)).is_err() {
                        return;
                    }
                }
            });
        }
    })
}

/// The device's end: serves `device` to every connection on `listener`.
pub fn serve(listener: TcpListener, device: Arc<LocalLink>) -> JoinHandle<()> {
    serve_frames(listener, move |request| device.with_device(|d| d.serve(request)))
}
