package user

import "net"

var dnsResolver = net.DefaultResolver
