//! A serial port as a [`Link`]: the board's end (the agent binary) and the host's end
//! (edgenas-device's serial transport) share it. [`RawTty`] is the agent's fallback where the
//! serial library's termios2 ioctl is not implemented (qemu-user 7.2): the classic termios
//! calls, which set the standard baud rates.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use edgenas_protocol::Link;

/// A serial port (or pseudo-terminal end) as a [`Link`].
pub struct SerialLink(pub Box<dyn serialport::SerialPort>);

impl SerialLink {
    /// Wrap an open port.
    pub fn new(port: impl serialport::SerialPort + 'static) -> Self {
        SerialLink(Box::new(port))
    }
}

impl Read for SerialLink {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for SerialLink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Link for SerialLink {
    fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.0.set_timeout(timeout).map_err(std::io::Error::other)
    }
}

/// A terminal opened read-write and set raw with the classic termios calls (`TCGETS` /
/// `TCSETS`), read with `poll` for the timeout. The serial library sets its ports up with
/// `TCGETS2` (termios2, for any baud rate), which qemu-user does not emulate: opening a port
/// under emulation fails with "Function not implemented". This works there, at the standard
/// baud rates.
#[derive(Debug)]
pub struct RawTty {
    file: std::fs::File,
    timeout: Duration,
}

/// The termios speed constant of a standard baud rate.
fn speed(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        9_600 => libc::B9600,
        19_200 => libc::B19200,
        38_400 => libc::B38400,
        57_600 => libc::B57600,
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        460_800 => libc::B460800,
        921_600 => libc::B921600,
        _ => return None,
    })
}

impl RawTty {
    /// `path` opened and set raw (8N1, no flow control) at `baud`, one of the standard rates
    /// (9,600 to 921,600).
    pub fn open(path: &str, baud: u32) -> std::io::Result<Self> {
        let speed = speed(baud).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("baud {baud} is not a standard rate (9600 to 921600), which the classic termios calls need"),
            )
        })?;
        Self::setup(open_nonblocking(path)?, speed)
    }

    /// `path` as a `RawTty` when the termios2 call is not implemented here (qemu-user), checked
    /// on a descriptor of its own before the serial library opens the port (which would leave it
    /// in exclusive mode, so that only root could open it again); `Ok(None)` where termios2 works.
    pub fn where_termios2_is_missing(path: &str, baud: u32) -> std::io::Result<Option<Self>> {
        let file = open_nonblocking(path)?;
        let mut buf = [0u8; 64]; // struct termios2 is 44 bytes
                                 // SAFETY: TCGETS2 writes at most sizeof(struct termios2) bytes into `buf`.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::TCGETS2 as _, buf.as_mut_ptr()) };
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
            return Ok(None);
        }
        drop(file);
        Self::open(path, baud).map(Some)
    }

    fn setup(file: std::fs::File, speed: libc::speed_t) -> std::io::Result<Self> {
        let fd = file.as_raw_fd();
        // SAFETY: `fd` is open for the life of `file`; `t` is a plain C struct filled by tcgetattr.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::cfmakeraw(&mut t);
            t.c_cflag |= libc::CLOCAL | libc::CREAD;
            t.c_cflag &= !(libc::CSTOPB | libc::CRTSCTS);
            if libc::cfsetispeed(&mut t, speed) != 0
                || libc::cfsetospeed(&mut t, speed) != 0
                || libc::tcsetattr(fd, libc::TCSANOW, &t) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // blocking from here on: reads wait in poll, writes as long as the line takes
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(RawTty { file, timeout: Duration::from_millis(100) })
    }
}

/// `path` opened read-write, without becoming the controlling terminal and without waiting for
/// a carrier (a real UART without CLOCAL set would block the open).
fn open_nonblocking(path: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK).open(path)
}

impl Read for RawTty {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut pfd = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            0 => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no data within the read timeout")),
            n if n < 0 => Err(std::io::Error::last_os_error()),
            _ => self.file.read(buf),
        }
    }
}

impl Write for RawTty {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Link for RawTty {
    fn set_read_timeout(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.timeout = timeout;
        Ok(())
    }
}
