// Entry point of the worker processes the cluster primary forks (cluster/primary.ts); not for direct use.
import { runWorker } from './worker.js'

runWorker()
