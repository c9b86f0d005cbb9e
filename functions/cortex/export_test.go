package cortex

import (
	"time"

	"github.com/owlette/server/scripts/agentsim/autonomoustest"
)

// Tests run simulated agents at autonomoustest.Scale: the relay spaces
// same-type commands as their compressed 5 s gap requires, and the waits
// tests sit through are shortened.
func init() {
	sameTypeGap = autonomoustest.RelayGap
	localTimeout = 3 * time.Second
	provisionWait = 3 * time.Second
}

// MachineEntry exposes machineEntry to the tests.
var MachineEntry = machineEntry

// TouchDesignerDir exposes touchDesignerDir to the tests.
var TouchDesignerDir = touchDesignerDir
