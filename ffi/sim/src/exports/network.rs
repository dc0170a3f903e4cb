//! Network: the RoCE address of a chip.

use std::ffi::c_int;
use std::net::IpAddr;

use dcmi_abi::{
    DCMI_ERR_CODE_CONFIG_INFO_NOT_EXIST, DCMI_ERR_CODE_INVALID_PARAMETER,
    DCMI_ERR_CODE_NOT_SUPPORT, DCMI_IPADDR_TYPE_ANY, DCMI_IPADDR_TYPE_V4, DCMI_IPADDR_TYPE_V6,
    DCMI_ROCE_PORT, DcmiIpAddr, DcmiIpAddrUnion, DcmiPortType,
};

use super::call;
use super::ptr::{Out, read_in};
use crate::runtime::{with_chip, with_sim};

fn encode(address: IpAddr) -> DcmiIpAddr {
    let mut u_addr = DcmiIpAddrUnion::default();
    let ip_type = match address {
        IpAddr::V4(v4) => {
            u_addr.set_ip4(v4.octets());
            DCMI_IPADDR_TYPE_V4
        }
        IpAddr::V6(v6) => {
            u_addr.ip6 = v6.octets();
            DCMI_IPADDR_TYPE_V6
        }
    };
    DcmiIpAddr { u_addr, ip_type }
}

/// The RoCE address and mask of the family the caller set in `ip->ip_type`
/// (V4, V6 or ANY); -8255 for a chip without RoCE, -8023 when it has no
/// address of that family.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_device_ip(
    card_id: c_int,
    device_id: c_int,
    input_type: DcmiPortType,
    port_id: c_int,
    ip: *mut DcmiIpAddr,
    mask: *mut DcmiIpAddr,
) -> c_int {
    call(|| {
        let wanted = read_in(ip.cast_const())?.ip_type;
        let (ip_out, mask_out) = (Out::new(ip)?, Out::new(mask)?);
        if port_id != 0 || wanted > DCMI_IPADDR_TYPE_ANY {
            return Err(DCMI_ERR_CODE_INVALID_PARAMETER);
        }
        let (address, netmask) = with_chip(card_id, device_id, |ctx| {
            if input_type != DCMI_ROCE_PORT || ctx.chip.roce.is_empty() {
                return Err(DCMI_ERR_CODE_NOT_SUPPORT);
            }
            ctx.chip
                .roce
                .iter()
                .find(|roce| match wanted {
                    DCMI_IPADDR_TYPE_V4 => roce.address.is_ipv4(),
                    DCMI_IPADDR_TYPE_V6 => roce.address.is_ipv6(),
                    _ => true,
                })
                .map(|roce| (roce.address, roce.mask))
                .ok_or(DCMI_ERR_CODE_CONFIG_INFO_NOT_EXIST)
        })?;
        ip_out.write(encode(address));
        mask_out.write(encode(netmask));
        Ok(())
    })
}

/// A3 (chips with super-pod info): cards pair up in topology order (the
/// first with the second, the third with the fourth, ...); the brother is
/// the other card of the pair. -8255 elsewhere or without a partner.
#[unsafe(no_mangle)]
pub extern "C" fn dcmi_get_netdev_brother_device(
    card_id: c_int,
    device_id: c_int,
    brother_card_id: *mut c_int,
) -> c_int {
    call(|| {
        let out = Out::new(brother_card_id)?;
        let brother = with_sim(|sim| {
            let (_, chip) = sim.chip(card_id, device_id)?;
            chip.spod.as_ref().ok_or(DCMI_ERR_CODE_NOT_SUPPORT)?;
            let cards = &sim.topology.cards;
            let index = cards
                .iter()
                .position(|card| card.card_id == card_id)
                .ok_or(DCMI_ERR_CODE_NOT_SUPPORT)?;
            cards
                .get(index ^ 1)
                .map(|card| card.card_id)
                .ok_or(DCMI_ERR_CODE_NOT_SUPPORT)
        })?;
        out.write(brother);
        Ok(())
    })
}
