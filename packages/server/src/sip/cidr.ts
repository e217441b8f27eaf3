import { isIP, type BlockList } from 'node:net'

/** Adds `A.B.C.D/N`, `::/N` or a single address to a BlockList; throws a clear error otherwise. */
export function addCidr(list: BlockList, cidr: string): void {
  const [address = '', bits] = cidr.trim().split('/')
  const family = isIP(address)
  if (family === 0) throw new RangeError(`not an IP address or CIDR: "${cidr}"`)
  const type = family === 6 ? 'ipv6' : 'ipv4'
  if (bits === undefined) {
    list.addAddress(address, type)
    return
  }
  const prefix = /^\d{1,3}$/.test(bits) ? Number(bits) : NaN
  if (!(prefix >= 0 && prefix <= (family === 6 ? 128 : 32)))
    throw new RangeError(`bad prefix length in "${cidr}"`)
  list.addSubnet(address, prefix, type)
}
