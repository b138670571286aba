// A method's own error and a transport error are different types: `?` on the call gives
// `Result<u32, DivError>`, not `u32`.
use libsys::ipc::IpcError;
use libsys::Message;

#[derive(Message)]
#[repr(u8)]
enum DivError {
    ByZero = 1,
}

#[libsys::interface]
trait Calc {
    fn div(&mut self, a: u32, b: u32) -> Result<u32, DivError>;
}

fn quotient(c: CalcClient) -> Result<u32, IpcError> {
    let q: u32 = c.div(6, 3)?;
    Ok(q)
}

fn main() {}
