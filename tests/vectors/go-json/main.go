package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

type FaultTimeAndLevel struct {
	FaultTime  int64  `json:"fault_time"`
	FaultLevel string `json:"fault_level"`
}

type DeviceFault struct {
	FaultType            string                       `json:"fault_type"`
	NPUName              string                       `json:"npu_name"`
	LargeModelFaultLevel string                       `json:"large_model_fault_level"`
	FaultLevel           string                       `json:"fault_level"`
	FaultHandling        string                       `json:"fault_handling"`
	FaultCode            string                       `json:"fault_code"`
	FaultTimeAndLevelMap map[string]FaultTimeAndLevel `json:"fault_time_and_level_map"`
}

type NodeDeviceInfo struct {
	DeviceList map[string]string
	UpdateTime int64
}

type Cache struct {
	DeviceInfo  NodeDeviceInfo
	SuperPodID  int32
	ServerIndex int32
	CheckCode   string
}

func main() {
	s := ""
	for i := 0; i < 0x80; i++ {
		s += string(rune(i))
	}
	s += "\u2028\u2029é日😀"
	b, _ := json.Marshal(s)
	fmt.Println(string(b))
	m := map[string]int{"b": 1, "a": 2, "é": 3, "Z": 4, "aa": 5, "~": 6, "éx": 7, "日本": 8, "": 9, "a\u0000": 10}
	b, _ = json.Marshal(m)
	fmt.Println(string(b))

	faults := []DeviceFault{
		{FaultType: "CardNetworkUnhealthy", NPUName: "Ascend910-1", LargeModelFaultLevel: "NotHandleFault", FaultLevel: "NotHandleFault", FaultHandling: "NotHandleFault", FaultCode: "81078603",
			FaultTimeAndLevelMap: map[string]FaultTimeAndLevel{"81078603": {1700000000123, "NotHandleFault"}}},
		{FaultType: "CardUnhealthy", NPUName: "Ascend910-3", LargeModelFaultLevel: "RestartBusiness", FaultLevel: "RestartBusiness", FaultHandling: "RestartBusiness", FaultCode: "80C98009,80E01801",
			FaultTimeAndLevelMap: map[string]FaultTimeAndLevel{"80E01801": {1700000000999, "RestartBusiness"}, "80C98009": {1700000000500, "RestartRequest"}}},
	}
	fb, _ := json.Marshal(faults)
	fmt.Println(string(fb))
	empty, _ := json.Marshal(make([]DeviceFault, 0))
	c := Cache{DeviceInfo: NodeDeviceInfo{DeviceList: map[string]string{
		"huawei.com/Ascend910":                  "Ascend910-0,Ascend910-2",
		"huawei.com/Ascend910-Unhealthy":        "Ascend910-3",
		"huawei.com/Ascend910-NetworkUnhealthy": "Ascend910-1",
		"huawei.com/Ascend910-Recovering":       "",
		"huawei.com/Ascend910-Fault":            string(fb),
	}, UpdateTime: 1700000001}, SuperPodID: -1, ServerIndex: -1}
	inner, _ := json.Marshal(c.DeviceInfo)
	h := sha256.Sum256(inner)
	c.CheckCode = hex.EncodeToString(h[:])
	out, _ := json.Marshal(c)
	fmt.Println(string(out))
	fmt.Println(string(empty))
}
