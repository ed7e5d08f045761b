package wire

import "fmt"

// Type names a message kind. Numbers are grouped by the service that answers.
type Type uint16

const (
	TypeError Type = 1
	TypePing  Type = 2
	TypePong  Type = 3

	// bootstrap
	TypeRegister   Type = 10
	TypeRegistered Type = 11
	TypeListNodes  Type = 12
	TypeNodeList   Type = 13

	// indexer
	TypePlace     Type = 20
	TypePlacement Type = 21
	TypeCommit    Type = 22
	TypeCommitted Type = 23
	TypeLocate    Type = 24
	TypeLocation  Type = 25
	TypeListFiles Type = 26
	TypeFileList  Type = 27

	// miner
	TypeStoreShard  Type = 30
	TypePieceData   Type = 31
	TypeStoreResult Type = 32
	TypeGetPiece    Type = 33
	TypePiece       Type = 34
)

var typeNames = map[Type]string{
	TypeError: "Error", TypePing: "Ping", TypePong: "Pong",
	TypeRegister: "Register", TypeRegistered: "Registered", TypeListNodes: "ListNodes", TypeNodeList: "NodeList",
	TypePlace: "Place", TypePlacement: "Placement", TypeCommit: "Commit", TypeCommitted: "Committed",
	TypeLocate: "Locate", TypeLocation: "Location", TypeListFiles: "ListFiles", TypeFileList: "FileList",
	TypeStoreShard: "StoreShard", TypePieceData: "PieceData", TypeStoreResult: "StoreResult",
	TypeGetPiece: "GetPiece", TypePiece: "Piece",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("Type(%d)", uint16(t))
}

// New returns an empty message of type t.
func New(t Type) (Message, error) {
	var m Message
	switch t {
	case TypeError:
		m = new(Error)
	case TypePing:
		m = new(Ping)
	case TypePong:
		m = new(Pong)
	case TypeRegister:
		m = new(Register)
	case TypeRegistered:
		m = new(Registered)
	case TypeListNodes:
		m = new(ListNodes)
	case TypeNodeList:
		m = new(NodeList)
	case TypePlace:
		m = new(Place)
	case TypePlacement:
		m = new(Placement)
	case TypeCommit:
		m = new(Commit)
	case TypeCommitted:
		m = new(Committed)
	case TypeLocate:
		m = new(Locate)
	case TypeLocation:
		m = new(Location)
	case TypeListFiles:
		m = new(ListFiles)
	case TypeFileList:
		m = new(FileList)
	case TypeStoreShard:
		m = new(StoreShard)
	case TypePieceData:
		m = new(PieceData)
	case TypeStoreResult:
		m = new(StoreResult)
	case TypeGetPiece:
		m = new(GetPiece)
	case TypePiece:
		m = new(Piece)
	case TypeSealCommit, TypePoRepChallenge, TypePoRepPart, TypePoRepResult, TypePoStChallenge, TypePoStPart, TypeProofStatus, TypeProofStates, TypeRepairShard, TypeRepairDone:
		m = newProofsMessage(t) // wire/proofs.go
	default:
		if m = newLifecycle(t); m != nil {
			break
		}
		if m = newShareMessage(t); m != nil { // share codes (share.go)
			break
		}
		if m = newZkStore(t); m != nil { // zkStore (zkstore.go)
			break
		}
		if m = newProofLife(t); m != nil { // proof status, PoSt signatures (prooflife.go)
			break
		}
		return nil, Errorf(CodeBadRequest, "unknown message type %d", uint16(t))
	}
	return m, nil
}
