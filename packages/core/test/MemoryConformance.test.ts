import * as MemoryStore from "../src/MemoryStore.js"
import * as MemoryTransport from "../src/MemoryTransport.js"
import { StoreSuite, TransportSuite } from "../src/testing/index.js"

StoreSuite.run("MemoryStore", MemoryStore.make)
TransportSuite.run("MemoryTransport", MemoryTransport.make)
