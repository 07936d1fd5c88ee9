import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The API's TLS identity: `server.key` and `server.crt` under `<home>/api/configuration/ssl/` (where
/// Wazuh keeps them), generated self-signed on first start when both are missing.
public enum APICertificate {
    /// Creates a P-256 key and a certificate valid for 10 years for `hostnames` (and 127.0.0.1 / ::1),
    /// unless both files exist. The key is written 0600, both atomically. Returns true when it created them.
    @discardableResult
    public static func ensure(keyPath: String, certPath: String, hostnames: [String]) throws -> Bool {
        let fm = FileManager.default
        let haveKey = fm.fileExists(atPath: keyPath), haveCert = fm.fileExists(atPath: certPath)
        if haveKey && haveCert { return false }
        if haveKey != haveCert {
            throw APICertificateError("only one of \(keyPath) and \(certPath) exists; restore the other or remove both to have a new pair made")
        }
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        let now = Date()
        let name = try DistinguishedName {
            CountryName("US")
            OrganizationName("Wazuh")
            CommonName(hostnames.first ?? "wazuh")
        }
        var sans: [GeneralName] = hostnames.map { .dnsName($0) }
        sans.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        sans.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))))
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                KeyUsage(digitalSignature: true, keyEncipherment: true)
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(sans)
            },
            issuerPrivateKey: privateKey)
        let dir = (keyPath as NSString).deletingLastPathComponent
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try fm.createDirectory(atPath: (certPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try writeAtomically(Array(key.pemRepresentation.utf8), to: keyPath, mode: 0o600)
        try writeAtomically(Array(try certificate.serializeAsPEM().pemString.utf8), to: certPath, mode: 0o644)
        return true
    }

    /// The server TLS configuration from the two PEM files.
    public static func serverConfiguration(keyPath: String, certPath: String) throws -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certPath).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        } catch {
            throw APICertificateError("cannot load the TLS key \(keyPath) and certificate \(certPath): \(error)")
        }
    }

    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard fd >= 0 else { throw APICertificateError("cannot create \(temp): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode)
        close(fd)
        guard written == bytes.count, rename(temp, path) == 0 else {
            unlink(temp)
            throw APICertificateError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

public struct APICertificateError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
