package cortexinvestigation

import "github.com/owlette/server/scripts/agentsim/autonomoustest"

// Tests run simulated agents at autonomoustest.Scale: the relay spaces
// same-type commands as their compressed 5 s gap requires.
func init() { sameTypeGap = autonomoustest.RelayGap }
