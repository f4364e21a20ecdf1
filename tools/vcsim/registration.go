package main

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Registration of existing files (Folder.RegisterVM_Task) and the question a
// VM asks when its files were moved or copied.
//
// vCenter reads a registered VM's configuration from its .vmx and its
// snapshot tree from its .vmsd: the simulator keeps no such content, so the
// lab remembers the configuration and snapshots of the registration that
// last left the inventory (fileModel.vmLeft) and gives them to the next one
// (same hardware, UUIDs, annotation, guest address and snapshot tree, with
// new snapshot objects).
//
// A VM's location UUID (uuid.location) hashes its host and path; when a VM is
// powered on elsewhere than where its files last ran, the power-on asks the
// "moved or copied" question (runtime.question, msg.uuid.altered) and its
// task waits for AnswerVM: "I moved it" keeps the UUIDs, "I copied it" makes
// new ones (Broadcom KB 320246; the choice keys are those of ansible's
// vmware_guest_powerstate `answer`). Cancel fails the task.

// Choice keys of the msg.uuid.altered question.
const (
	answerCancel = "button.uuid.cancel"
	answerMoved  = "button.uuid.movedTheVM"
	answerCopied = "button.uuid.copiedTheVM"
)

// pendingQuestion is a power-on waiting for an answer.
type pendingQuestion struct {
	id   string
	task *simulator.Task
	run  func(*simulator.Task) (types.AnyType, types.BaseMethodFault)
}

// questionCounter numbers the questions (vCenter's ids look like "_vmx1").
var questionCounter int

// ranElsewhere tells whether vm's files last ran on another host than vm's,
// so that powering it on asks the question. Call with mu held.
func (l *lab) ranElsewhere(vm *simulator.VirtualMachine) bool {
	host := hostOf(vm)
	r, ok := l.files.records[vmxPath(vm)]
	return ok && host != nil && r.lastHost != "" && r.lastHost != host.Name
}

// ranOn records that vm's files ran (or were created or moved by vCenter) on
// its host. Call with mu held.
func (l *lab) ranOn(vm *simulator.VirtualMachine) {
	if host := hostOf(vm); host != nil && vmxPath(vm) != "" {
		l.files.record(vmxPath(vm)).lastHost = host.Name
	}
}

// askQuestion starts a power-on that waits for the answer to the moved or
// copied question: the task runs until AnswerVM. Returns the task.
func (l *lab) askQuestion(ctx *simulator.Context, vm *simulator.VirtualMachine) types.ManagedObjectReference {
	questionCounter++
	p := &pendingQuestion{id: fmt.Sprintf("_vmx%d", questionCounter)}
	p.task = simulator.CreateTask(vm, "powerOn", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return p.run(t)
	})
	now := time.Now()
	simulator.Map.Update(p.task, []types.PropertyChange{
		{Name: "info.startTime", Val: now},
		{Name: "info.state", Val: types.TaskInfoStateRunning},
		{Name: "info.progress", Val: int32(0)},
	})
	l.mu.Lock()
	l.questions()[vm.Self] = p
	l.mu.Unlock()
	simulator.Map.WithLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "runtime.question", Val: uuidQuestion(p.id)}})
	})
	return p.task.Self
}

// uuidQuestion is the question vCenter shows (text from the vSphere client;
// the exact wording is not confirmed).
func uuidQuestion(id string) *types.VirtualMachineQuestionInfo {
	text := "msg.uuid.altered:This virtual machine might have been moved or copied.\n" +
		"In order to configure certain management and networking features, VMware ESX needs to know if this virtual machine was moved or copied.\n\n" +
		"If you don't know, answer \"I Copied It\".\n"
	choice := func(key, label string) types.BaseElementDescription {
		return &types.ElementDescription{Description: types.Description{Label: label, Summary: label}, Key: key}
	}
	return &types.VirtualMachineQuestionInfo{
		Id:   id,
		Text: text,
		Choice: types.ChoiceOption{
			OptionType:   types.OptionType{ValueIsReadonly: types.NewBool(false)},
			ChoiceInfo:   []types.BaseElementDescription{choice(answerCancel, "Cancel"), choice(answerMoved, "I Moved It"), choice(answerCopied, "I Copied It")},
			DefaultIndex: 2,
		},
		Message: []types.VirtualMachineMessage{{Id: "msg.uuid.altered", Text: text}},
	}
}

// questions is the map of pending questions, created on first use. Call with
// mu held.
func (l *lab) questions() map[types.ManagedObjectReference]*pendingQuestion {
	if l.pending == nil {
		l.pending = map[types.ManagedObjectReference]*pendingQuestion{}
	}
	return l.pending
}

// AnswerVM implements VirtualMachine.AnswerVM for the moved or copied
// question. An unknown question id faults with ConcurrentAccess (answered
// already, or never asked: the fault the API reference gives), an unknown
// choice with InvalidArgument (not confirmed).
func (l *lab) AnswerVM(ctx *simulator.Context, vm *simulator.VirtualMachine, req *types.AnswerVM) soap.HasFault {
	body := new(methods.AnswerVMBody)
	l.mu.Lock()
	p := l.questions()[vm.Self]
	fault := l.hostRefusal(vm, false)
	l.mu.Unlock()
	switch {
	case fault != nil:
		body.Fault_ = simulator.Fault("", fault)
		return body
	case p == nil || p.id != req.QuestionId:
		body.Fault_ = simulator.Fault("", &types.ConcurrentAccess{})
		return body
	case req.AnswerChoice != answerCancel && req.AnswerChoice != answerMoved && req.AnswerChoice != answerCopied:
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "answerChoice"})
		return body
	}
	l.mu.Lock()
	delete(l.questions(), vm.Self)
	l.mu.Unlock()
	simulator.Map.Update(vm, []types.PropertyChange{{Name: "runtime.question", Val: nil}})
	switch req.AnswerChoice {
	case answerCancel:
		p.run = func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return nil, &types.RequestCanceled{}
		}
	case answerCopied:
		newUUIDs(vm)
		fallthrough
	default:
		p.run = simulator.PowerOnRunner(ctx, vm)
	}
	p.task.Run() // the VM is locked by this call, as the power-on step needs
	body.Res = new(types.AnswerVMResponse)
	return body
}

// newUUIDs gives a copied VM new BIOS and instance UUIDs.
func newUUIDs(vm *simulator.VirtualMachine) {
	bios, instance := randomUUID(), randomUUID()
	simulator.Map.Update(vm, []types.PropertyChange{
		{Name: "config.uuid", Val: bios},
		{Name: "config.instanceUuid", Val: instance},
		{Name: "summary.config.uuid", Val: bios},
		{Name: "summary.config.instanceUuid", Val: instance},
	})
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// restoreFromFiles gives a newly registered VM what its files hold: the
// configuration, guest address and snapshot tree of the registration that
// last left the inventory. It runs without mu (the guest address is followed
// by the hook).
func (l *lab) restoreFromFiles(ref types.ManagedObjectReference) {
	vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	l.mu.Lock()
	r := l.files.records[vmxPath(vm)]
	var saved *types.VirtualMachineConfigInfo
	var snapshots *simulator.SnapshotFiles
	ip := ""
	if r != nil {
		saved, snapshots, ip = r.config, r.snapshots, r.ip
	}
	l.mu.Unlock()
	if saved == nil {
		return
	}
	hw := saved.Hardware
	changes := []types.PropertyChange{
		{Name: "config.hardware", Val: hw},
		{Name: "config.uuid", Val: saved.Uuid},
		{Name: "config.instanceUuid", Val: saved.InstanceUuid},
		{Name: "config.guestId", Val: saved.GuestId},
		{Name: "config.guestFullName", Val: saved.GuestFullName},
		{Name: "config.annotation", Val: saved.Annotation},
		{Name: "summary.config.uuid", Val: saved.Uuid},
		{Name: "summary.config.instanceUuid", Val: saved.InstanceUuid},
		{Name: "summary.config.guestId", Val: saved.GuestId},
		{Name: "summary.config.guestFullName", Val: saved.GuestFullName},
		{Name: "summary.config.annotation", Val: saved.Annotation},
		{Name: "summary.config.numCpu", Val: hw.NumCPU},
		{Name: "summary.config.memorySizeMB", Val: hw.MemoryMB},
	}
	if ip != "" && vm.Guest != nil {
		changes = append(changes,
			types.PropertyChange{Name: "guest.ipAddress", Val: ip},
			types.PropertyChange{Name: "summary.guest.ipAddress", Val: ip})
	}
	simulator.Map.WithLock(vm, func() {
		simulator.Map.Update(vm, changes)
		simulator.RestoreSnapshots(vm, snapshots)
	})
}
