import Foundation
import Testing
@testable import Common

/// The `<cluster>` block: Python defaults and conversions, C-side element and character rules,
/// `check_cluster_config` (LOCAL-DAPI-CONTROL.md §3.1).
@Suite struct ConfigTests {
    static let file = "/x/etc/ossec.conf"
    static let goodKey = "c98b62a9b6169ac5f67dae55ae4a9088"

    /// A file with a `<cluster>` block holding `body` (and another root before it, as real files have).
    static func conf(_ body: String) -> String {
        """
        <!-- Wazuh - Manager - Default configuration -->
        <ossec_config>
          <global><jsonout_output>yes</jsonout_output></global>
        </ossec_config>

        <ossec_config>
          <cluster>
        \(body)
          </cluster>
        </ossec_config>
        """
    }

    static let validBody = """
        <name>wazuh</name>
        <node_name>master-node</node_name>
        <node_type>master</node_type>
        <key>\(goodKey)</key>
        <port>1516</port>
        <bind_addr>0.0.0.0</bind_addr>
        <nodes>
            <node>10.0.0.10</node>
        </nodes>
        <hidden>no</hidden>
        <disabled>no</disabled>
    """

    func load(_ body: String) throws(ConfigError) -> ClusterConfigLoadResult {
        try ClusterConfigLoader.parse(Self.conf(body), file: Self.file)
    }

    /// The error `body` produces.
    func error(_ body: String) -> ConfigError? {
        do { _ = try load(body); return nil } catch { return error }
    }

    @Test func readsAFullBlock() throws {
        let c = try load(Self.validBody).config
        #expect(c == ClusterConfig(name: "wazuh", nodeName: "master-node", nodeType: .master, key: Self.goodKey, port: 1516,
                                   bindAddr: "0.0.0.0", nodes: ["10.0.0.10"], hidden: false, disabled: false))
        #expect(c.masterAddress == "10.0.0.10")
    }

    @Test func getConfigJSON() throws {
        let c = try load(Self.validBody).config
        #expect(c.json.pythonText == #"{"name": "wazuh", "node_name": "master-node", "node_type": "master", "key": "\#(Self.goodKey)", "port": 1516, "bind_addr": "0.0.0.0", "nodes": ["10.0.0.10"], "hidden": "no", "disabled": false}"#)
    }

    @Test func noClusterBlockMeansDisabledDefaults() throws {
        let r = try ClusterConfigLoader.parse("<ossec_config><global/></ossec_config>", file: Self.file)
        #expect(r.config == ClusterConfig(name: "wazuh", nodeName: "node01", nodeType: .master, key: "", port: 1516,
                                          bindAddr: "0.0.0.0", nodes: ["NODE_IP"], hidden: false, disabled: true))
        #expect(r.config == .absent)
    }

    @Test func missingKeysGetDefaultsAndABlockWithoutDisabledIsEnabled() throws {
        let c = try load("<key>\(Self.goodKey)</key><nodes><node>10.1.1.1</node></nodes>").config
        #expect(c == ClusterConfig(key: Self.goodKey, nodes: ["10.1.1.1"]))
        #expect(!c.disabled)
    }

    @Test func disabledBlockIsNotValidated() throws {
        // The shipped template: empty key and NODE_IP, disabled. 4.8.1 accepts it (the daemon exits 0).
        let c = try load("<key></key><nodes><node>NODE_IP</node></nodes><disabled>yes</disabled>").config
        #expect(c.disabled)
        #expect(c.key == "")
    }

    @Test func lastClusterBlockWinsWithAWarning() throws {
        let text = Self.conf("<node_name>first</node_name><disabled>yes</disabled>")
            + "\n<ossec_config><cluster><node_name>second</node_name><disabled>yes</disabled></cluster></ossec_config>\n"
        let r = try ClusterConfigLoader.parse(text, file: Self.file)
        #expect(r.config.nodeName == "second")
        #expect(r.warnings == ["There are multiple cluster sections in configuration. Using only last section."])
    }

    @Test func clientIsReadAsWorker() throws {
        let r = try load(Self.validBody.replacingOccurrences(of: ">master<", with: ">client<"))
        #expect(r.config.nodeType == .worker)
        #expect(r.notes == ["Deprecated node type 'client'. Using 'worker' instead."])
    }

    @Test func moreThanOneNodeWarns() throws {
        let body = Self.validBody.replacingOccurrences(of: "<node>10.0.0.10</node>", with: "<node>10.0.0.10</node><node>10.0.0.11</node>")
        let r = try load(body)
        #expect(r.config.nodes == ["10.0.0.10", "10.0.0.11"])
        #expect(r.warnings == ["Found more than one node in configuration. Only master node should be specified. Using 10.0.0.10 as master."])
    }

    @Test func commentsEntitiesAndCDATA() throws {
        let body = Self.validBody
            .replacingOccurrences(of: "<name>wazuh</name>", with: "<!-- the name --><name> a&amp;b </name>")
            .replacingOccurrences(of: "<bind_addr>0.0.0.0</bind_addr>", with: "<bind_addr><![CDATA[127.0.0.1]]></bind_addr>")
        let c = try load(body).config
        #expect(c.name == "a&b")
        #expect(c.bindAddr == "127.0.0.1")
    }

    // MARK: check_cluster_config rules, each naming the file and the field

    @Test func emptyKey() {
        let e = error(Self.validBody.replacingOccurrences(of: Self.goodKey, with: ""))
        #expect(e?.description == "/x/etc/ossec.conf: <cluster><key>: Unspecified key")
        #expect(e?.code == 3004)
    }

    @Test func keyLengthAndCharacters() {
        let message = "/x/etc/ossec.conf: <cluster><key>: Key must be 32 characters long and only have alphanumeric characters"
        #expect(error(Self.validBody.replacingOccurrences(of: Self.goodKey, with: "short"))?.description == message)
        #expect(error(Self.validBody.replacingOccurrences(of: Self.goodKey, with: Self.goodKey + "0"))?.description == message)
        let withDash = "c98b62a9b6169ac5-67dae55ae4a9088"
        #expect(error(Self.validBody.replacingOccurrences(of: Self.goodKey, with: withDash))?.description == message)
        // Python's \w: underscore and non-ASCII letters are word characters.
        let unusual = "c98b62a9b6169ac5_67dae55ae4a908é"
        #expect(error(Self.validBody.replacingOccurrences(of: Self.goodKey, with: unusual)) == nil)
    }

    @Test func invalidNodeType() {
        let e = error(Self.validBody.replacingOccurrences(of: ">master<", with: ">boss<"))
        #expect(e?.field == "<cluster><node_type>")
        #expect(e?.problem.hasPrefix("Invalid node type boss. Correct values are master and worker") == true)
    }

    @Test func portMustBeAnInteger() {
        let e = error(Self.validBody.replacingOccurrences(of: "<port>1516</port>", with: "<port>15x6</port>"))
        #expect(e?.field == "<cluster><port>")
        #expect(e?.problem.hasPrefix("Cluster port must be an integer.") == true)
        #expect(e?.description.hasPrefix("/x/etc/ossec.conf: <cluster><port>: Cluster port must be an integer.") == true)
    }

    @Test(arguments: ["1024", "65535", "80", "99999999999999999999999"])
    func portRangeIsStrict(_ port: String) {
        let e = error(Self.validBody.replacingOccurrences(of: "<port>1516</port>", with: "<port>\(port)</port>"))
        #expect(e?.description == "/x/etc/ossec.conf: <cluster><port>: Port must be higher than 1024 and lower than 65535.")
    }

    @Test(arguments: ["1025", "65534", "01516"])
    func portBoundsAccepted(_ port: String) throws {
        #expect(try load(Self.validBody.replacingOccurrences(of: "<port>1516</port>", with: "<port>\(port)</port>")).config.port == Int(port)!)
    }

    @Test func reservedNodeAddresses() {
        for reserved in ["localhost", "NODE_IP", "0.0.0.0", "127.0.1.1"] {
            let e = error(Self.validBody.replacingOccurrences(of: "10.0.0.10", with: reserved))
            #expect(e?.description == "/x/etc/ossec.conf: <cluster><nodes>: Invalid elements in node fields: \(reserved).")
        }
    }

    @Test func atLeastOneNode() {
        let e = error(Self.validBody.replacingOccurrences(of: "<node>10.0.0.10</node>", with: ""))
        #expect(e?.field == "<cluster><nodes>")
    }

    // MARK: parsing rules (Python read and C reader)

    @Test func disabledMustBeYesOrNo() {
        let e = error(Self.validBody.replacingOccurrences(of: "<disabled>no</disabled>", with: "<disabled>maybe</disabled>"))
        #expect(e?.field == "<cluster><disabled>")
        #expect(e?.problem.hasPrefix("Allowed values for 'disabled' field are 'yes' and 'no'. Found: 'maybe'") == true)
    }

    @Test func hiddenMustBeYesOrNo() throws {
        let e = error(Self.validBody.replacingOccurrences(of: "<hidden>no</hidden>", with: "<hidden>true</hidden>"))
        #expect(e?.field == "<cluster><hidden>")
        #expect(try load(Self.validBody.replacingOccurrences(of: "<hidden>no</hidden>", with: "<hidden>yes</hidden>")).config.hidden)
    }

    @Test func unknownElementIsRejected() {
        let e = error(Self.validBody + "<colour>blue</colour>")
        #expect(e?.field == "<cluster><colour>")
        #expect(e?.problem.contains("Invalid element") == true)
    }

    @Test func cSideExtraElementsAreAccepted() throws {
        let r = try load(Self.validBody + "<socket_timeout>60</socket_timeout><connection_timeout>1</connection_timeout><interval>2m</interval>")
        #expect(r.config.nodeName == "master-node")
        #expect(r.warnings.contains { $0.contains("Interval option is not longer available") })
    }

    @Test func nodesHoldOnlyNodeElements() {
        let e = error(Self.validBody.replacingOccurrences(of: "<node>10.0.0.10</node>", with: "<host>10.0.0.10</host>"))
        #expect(e?.field == "<cluster><nodes>")
    }

    @Test(arguments: ["node 1", "node(1)", "a*b", "a+b", "a,b", "a/b", "a@b", "a`b", "nodé"])
    func nameCharacterRules(_ bad: String) {
        for field in ["name", "node_name"] {
            let original = field == "name" ? "<name>wazuh</name>" : "<node_name>master-node</node_name>"
            let e = error(Self.validBody.replacingOccurrences(of: original, with: "<\(field)>\(bad)</\(field)>"))
            #expect(e?.field == "<cluster><\(field)>", "\(field) = \(bad)")
            #expect(e?.problem.contains("Invalid character") == true)
        }
    }

    @Test func allowedNameCharacters() throws {
        let name = "A-z_0.9:~{|}[]^?=<>!#$%'"
        let escaped = name.replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        let c = try load(Self.validBody.replacingOccurrences(of: "<node_name>master-node</node_name>", with: "<node_name>\(escaped)</node_name>")).config
        #expect(c.nodeName == name)
    }

    @Test func emptyNameIsRejected() {
        let e = error(Self.validBody.replacingOccurrences(of: "<name>wazuh</name>", with: "<name></name>"))
        #expect(e?.field == "<cluster><name>")
    }

    @Test func malformedXMLNamesTheLine() {
        do {
            _ = try ClusterConfigLoader.parse("<ossec_config>\n  <cluster>\n    <name>x</nam>\n</ossec_config>", file: Self.file)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("/x/etc/ossec.conf: line 3: closing tag </nam> does not match <name>"))
            #expect(error.code == 3006)
        }
    }

    @Test func loadsFromHomeAndReportsAMissingFile() throws {
        let home = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: home.path + "/etc", withIntermediateDirectories: true)
        try Self.conf(Self.validBody).write(toFile: home.path + "/etc/ossec.conf", atomically: true, encoding: .utf8)
        #expect(try ClusterConfigLoader.load(home: home.path).nodeName == "master-node")
        do {
            _ = try ClusterConfigLoader.load(home: home.path + "/nowhere")
            Issue.record("expected an error")
        } catch let error as ConfigError {
            #expect(error.file == home.path + "/nowhere/etc/ossec.conf")
            #expect(error.code == 3006)
        }
    }
}
