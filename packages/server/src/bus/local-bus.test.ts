import { runBusContract } from './bus.contract.js'
import { LocalBus } from './local-bus.js'

runBusContract('LocalBus', async () => new LocalBus())
